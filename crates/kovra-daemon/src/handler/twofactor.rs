//! TOTP as the second factor. The seed and the last accepted time step live in one record
//! of the system vault (sealed, versioned and tamper-evident like the allowlist), so the
//! factor can only be read after the passphrase opened the vault, and a code is single use.

use kovra_core::audit::AuditEntry;
use kovra_core::coord::Coordinate;
use kovra_core::crypto;
use kovra_core::model::VaultName;
use kovra_core::secret::SecretString;
use kovra_core::store::{self, StoreError, UnlockedStore};
use kovra_core::totp::{self, Acceptance, TotpParams};
use kovra_proto::ErrorCode;
use kovra_proto::{Reply, Secret};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::Gate;
use crate::error::GateError;

const TWO_FACTOR: &str = "secret:kovra/2fa/totp";

#[derive(Serialize, Deserialize)]
pub(super) struct State {
    /// The seed, hex.
    seed: SecretString,
    /// False until a code confirmed that the user's authenticator holds the seed.
    active: bool,
    /// The last accepted time step; only later steps are accepted (codes are single use).
    last_step: u64,
}

impl State {
    fn seed(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(hex::decode(self.seed.expose()).unwrap_or_default())
    }
}

fn coord() -> Result<Coordinate, GateError> {
    Coordinate::parse(TWO_FACTOR).map_err(|e| GateError::new(ErrorCode::Internal, e.to_string()))
}

fn params() -> TotpParams {
    // What every authenticator app supports.
    TotpParams::default()
}

/// The factor's state, if one was ever set up.
pub(super) fn load(store: &mut UnlockedStore) -> Result<Option<State>, GateError> {
    super::system::load(store, &coord()?, "two-factor")
}

/// Whether a second factor is enrolled and on.
pub(super) fn active(store: &mut UnlockedStore) -> bool {
    matches!(load(store), Ok(Some(s)) if s.active)
}

fn save(store: &mut UnlockedStore, state: &State, audit: AuditEntry) -> Result<(), GateError> {
    let description = "the second factor (TOTP) for unlock and proofs of presence";
    super::system::save(store, &coord()?, description, Some(params()), state, audit)
}

/// Whether a typed answer has the shape of a code (so it is tried as one).
pub(super) fn looks_like_code(answer: &[u8]) -> bool {
    answer.len() == usize::from(params().digits) && answer.iter().all(u8::is_ascii_digit)
}

/// Check a code against the factor (active, or pending when `pending` is set). A valid,
/// not yet used code is remembered with `accepted` as its audit entry; any other answer is
/// audited with `refused` and yields `false`.
pub(super) fn check_code(
    store: &mut UnlockedStore,
    state: &mut State,
    code: &[u8],
    accepted: AuditEntry,
    mut refused: AuditEntry,
) -> Result<bool, GateError> {
    let text = std::str::from_utf8(code).unwrap_or("");
    let judged = totp::accept(&state.seed(), params(), text, store::now(), state.last_step);
    let (step, accepted) = match judged {
        Acceptance::Fresh(s) => (s, accepted),
        Acceptance::AfterClockSetBack(s) => {
            // Accepted again in the current window; the trail says why.
            let mut accepted = accepted;
            accepted.reason = Some("2fa-clock-set-back".into());
            (s, accepted)
        }
        Acceptance::Replayed | Acceptance::Wrong => {
            refused.decision = "deny".into();
            refused.reason = Some(
                if judged == Acceptance::Replayed {
                    "2fa-code-replayed"
                } else {
                    "2fa-code-wrong"
                }
                .into(),
            );
            store.audit(refused)?;
            return Ok(false);
        }
    };
    state.last_step = step;
    state.active = true;
    save(store, state, accepted)?;
    Ok(true)
}

pub(super) fn code_invalid() -> GateError {
    GateError::new(
        ErrorCode::TwoFactorCodeInvalid,
        "the two-factor code is wrong, expired or already used",
    )
    .hint("wait for the next code in your authenticator app and try again")
}

pub(super) fn code_required() -> GateError {
    GateError::new(
        ErrorCode::TwoFactorCodeRequired,
        "two-factor authentication is on: a code is needed as well as the passphrase",
    )
    .hint(
        "give the current code from your authenticator app (prompted at a terminal, or --code-file)",
    )
}

/// The unlock check after the passphrase opened the vault: `Ok` when no factor is active
/// or the code is valid and unused.
pub(super) fn unlock_check(
    store: &mut UnlockedStore,
    code: Option<&Secret>,
    entry: &AuditEntry,
) -> Result<(), (GateError, bool)> {
    let mut state = match load(store).map_err(|r| (r, false))? {
        Some(s) if s.active => s,
        _ => return Ok(()),
    };
    let Some(code) = code else {
        let mut e = entry.clone();
        e.decision = "deny".into();
        e.reason = Some("2fa-code-missing".into());
        store.audit(e).map_err(|e| (GateError::from(e), false))?;
        return Err((code_required(), false));
    };
    let mut accepted = entry.clone();
    accepted.action = "2fa-code".into();
    accepted.detail = Some("accepted for unlock".into());
    match check_code(store, &mut state, code.expose(), accepted, entry.clone()) {
        Ok(true) => Ok(()),
        Ok(false) => Err((code_invalid(), true)),
        Err(refused) => Err((refused, false)),
    }
}

impl Gate<'_> {
    /// With the factor active, a code typed at the proof prompt is a proof of presence.
    /// `Ok(true)` when `answer` was accepted as a code.
    pub(super) fn proof_by_code(&mut self, answer: &[u8]) -> Result<bool, GateError> {
        if !looks_like_code(answer) {
            return Ok(false);
        }
        let mut state = match load(self.store)? {
            Some(s) if s.active => s,
            _ => return Ok(false),
        };
        let mut accepted = self.info.entry("2fa-code", None, None, "allow");
        accepted.detail = Some("accepted as a proof of presence".into());
        let refused = self.info.entry("proof", None, None, "deny");
        check_code(self.store, &mut state, answer, accepted, refused)
    }

    pub(super) fn two_factor_status(&mut self) -> Result<Reply, GateError> {
        let state = match load(self.store)? {
            None => "disabled",
            Some(s) if s.active => "enabled",
            Some(_) => "pending",
        };
        Ok(Reply::TwoFactorState {
            state: state.into(),
        })
    }

    pub(super) fn two_factor_enable(&mut self) -> Result<Reply, GateError> {
        // An agent would see the seed and could then mint proofs: `decide_vault` refuses it.
        self.vault_gate(
            kovra_core::policy::VaultOperation::EnableTwoFactor,
            "2fa-enable",
        )?;
        if load(self.store)?.is_some_and(|s| s.active) {
            return Err(GateError::new(
                ErrorCode::TwoFactorAlreadyEnabled,
                "two-factor authentication is already on",
            )
            .hint("`kovra 2fa disable` first to replace the seed"));
        }
        let seed = Zeroizing::new(crypto::random_array::<20>());
        let state = State {
            seed: SecretString::new(hex::encode(seed.as_slice())),
            active: false,
            last_step: 0,
        };
        let mut e = self.info.entry("2fa-enable", None, None, "ok");
        e.detail = Some("new seed, pending confirmation".into());
        save(self.store, &state, e)?;
        let uri = totp::uri(seed.as_slice(), params(), "kovra", "vault");
        Ok(Reply::TwoFactorSetup {
            uri: Secret::new(uri.as_bytes().to_vec()),
        })
    }

    pub(super) fn two_factor_confirm(&mut self, code: &Secret) -> Result<Reply, GateError> {
        self.vault_gate(
            kovra_core::policy::VaultOperation::ConfirmTwoFactor,
            "2fa-confirm",
        )?;
        let mut state = match load(self.store)? {
            Some(s) if !s.active => s,
            Some(_) => {
                return Err(GateError::new(
                    ErrorCode::TwoFactorAlreadyEnabled,
                    "two-factor authentication is already on",
                ));
            }
            None => {
                return Err(GateError::new(
                    ErrorCode::TwoFactorNotPending,
                    "no second factor is waiting for confirmation",
                )
                .hint("run `kovra 2fa enable` first"));
            }
        };
        let accepted = self.info.entry("2fa-confirm", None, None, "ok");
        let refused = self.info.entry("2fa-confirm", None, None, "deny");
        if !check_code(self.store, &mut state, code.expose(), accepted, refused)? {
            *self.failures += 1;
            return Err(code_invalid());
        }
        Ok(Reply::Done {
            message: "two-factor authentication is on: unlock now needs the passphrase and a code"
                .into(),
        })
    }

    pub(super) fn two_factor_disable(
        &mut self,
        passphrase: &Secret,
        code: &Secret,
    ) -> Result<Reply, GateError> {
        self.vault_gate(
            kovra_core::policy::VaultOperation::DisableTwoFactor,
            "2fa-disable",
        )?;
        let mut state = match load(self.store)? {
            Some(s) if s.active => s,
            _ => {
                return Err(GateError::new(
                    ErrorCode::TwoFactorNotEnabled,
                    "two-factor authentication is not on",
                ));
            }
        };
        if self.store.check_passphrase(passphrase.expose()).is_err() {
            *self.failures += 1;
            let mut e = self.info.entry("2fa-disable", None, None, "deny");
            e.reason = Some("wrong passphrase".into());
            self.store.audit(e)?;
            return Err(GateError::from(StoreError::WrongPassphrase));
        }
        let accepted = self.info.entry("2fa-code", None, None, "allow");
        let refused = self.info.entry("2fa-disable", None, None, "deny");
        if !check_code(self.store, &mut state, code.expose(), accepted, refused)? {
            *self.failures += 1;
            return Err(code_invalid());
        }
        self.store.delete(
            &VaultName::System,
            &coord()?,
            self.info.entry("2fa-disable", None, None, "ok"),
        )?;
        Ok(Reply::Done {
            message: "two-factor authentication is off".into(),
        })
    }
}
