//! Passkeys as a proof of presence (`docs/passkeys.md`): the enrolled credentials live in
//! one sealed record of the system vault (like the second factor's seed), each write its
//! own transaction with its audit entry; enrolment runs in the Web UI, which is the only
//! origin an assertion may come from.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kovra_core::coord::Coordinate;
use kovra_core::policy::{self, ProofNeed, VaultOperation};
use kovra_core::store::{self, UnlockedStore};
use kovra_proto::{ErrorCode, PasskeyView, Reply};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use webauthn_rs_core::proto::Credential;

use super::Gate;
use crate::error::GateError;
use crate::passkey;

const PASSKEYS: &str = "secret:kovra/passkey/credentials";
const MAX_NAME: usize = 64;

/// Every enrolled passkey.
#[derive(Serialize, Deserialize, Default)]
pub(super) struct State {
    passkeys: Vec<Enrolled>,
}

#[derive(Serialize, Deserialize)]
struct Enrolled {
    /// The credential id, base64url without padding.
    id: String,
    name: String,
    created: u64,
    last_used: Option<u64>,
    /// webauthn-rs-core's credential: the public key (COSE), the counter, the flags.
    credential: Credential,
}

impl State {
    fn credentials(&self) -> Vec<Credential> {
        self.passkeys.iter().map(|p| p.credential.clone()).collect()
    }
}

fn coord() -> Result<Coordinate, GateError> {
    Coordinate::parse(PASSKEYS).map_err(|e| GateError::new(ErrorCode::Internal, e.to_string()))
}

pub(super) fn load(store: &mut UnlockedStore) -> Result<State, GateError> {
    Ok(super::system::load(store, &coord()?, "passkey")?.unwrap_or_default())
}

/// Whether any passkey is enrolled, read from the store.
pub(super) fn any_enrolled(store: &mut UnlockedStore) -> bool {
    load(store).is_ok_and(|s| !s.passkeys.is_empty())
}

/// Whether any passkey is enrolled (what `passkey_for` waits for): read once per unlock.
pub(super) fn cached(cache: &mut Option<bool>, store: &mut UnlockedStore) -> bool {
    if let Some(known) = *cache {
        return known;
    }
    match load(store) {
        Ok(state) => {
            let known = !state.passkeys.is_empty();
            *cache = Some(known);
            known
        }
        // Unreadable counts as enrolled: the rule then asks for a passkey rather than
        // quietly waiting (and the verification reports the record as unreadable).
        Err(_) => true,
    }
}

fn save(
    store: &mut UnlockedStore,
    state: &State,
    audit: kovra_core::audit::AuditEntry,
) -> Result<(), GateError> {
    let description = "the enrolled passkeys (public keys and counters) for proofs of presence";
    super::system::save(store, &coord()?, description, None, state, audit)
}

/// What enrolling or removing a passkey counts as for `passkey_for`: it changes what can
/// answer for high and production requests, so it needs what they need.
fn every_need() -> ProofNeed {
    ProofNeed {
        high: true,
        production: true,
    }
}

fn invalid(message: impl Into<String>) -> GateError {
    GateError::new(ErrorCode::PasskeyInvalid, message)
        .hint("start the enrolment again in `kovra ui`")
}

impl Gate<'_> {
    /// The origin an enrolment or an assertion must come from: the one the Web UI
    /// registered with [`Daemon::set_web_origin`](super::Daemon::set_web_origin).
    fn web_origin(&self) -> Option<url::Url> {
        self.daemon
            .web_origin()
            .and_then(|o| passkey::parse_origin(&o).ok())
    }

    pub(super) fn passkey_enrol_begin(
        &mut self,
        name: &str,
        origin: &str,
    ) -> Result<Reply, GateError> {
        // A new passkey answers where `passkey_for` asks for one: while the rule is on, only
        // a passkey already enrolled may add another.
        self.need_proof_for(every_need());
        self.vault_gate(VaultOperation::EnrolPasskey, "passkey-enrol")?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control)
        {
            return Err(GateError::new(
                ErrorCode::InvalidArgument,
                format!("a passkey's name is 1 to {MAX_NAME} printable characters"),
            ));
        }
        let origin = passkey::parse_origin(origin).map_err(invalid)?;
        if self.web_origin().as_ref() != Some(&origin) {
            return Err(invalid(format!(
                "{origin} is not the origin the Web UI serves; passkeys are enrolled in `kovra ui`"
            )));
        }
        let state = load(self.store)?;
        let enrolled = state
            .passkeys
            .iter()
            .map(|p| p.credential.cred_id.to_vec())
            .collect();
        let (options, reg) = passkey::creation(&origin, enrolled)
            .map_err(|e| GateError::new(ErrorCode::Internal, e))?;
        let agent = self.info.agent.as_ref().map(|p| p.name.clone());
        let ceremony = self.ceremonies.begin(reg, name.to_string(), origin, agent);
        Ok(Reply::PasskeyCreation { ceremony, options })
    }

    pub(super) fn passkey_enrol_finish(
        &mut self,
        ceremony: &str,
        credential: &Value,
    ) -> Result<Reply, GateError> {
        let agent = self.info.agent.as_ref().map(|p| p.name.clone());
        let Some(c) = self.ceremonies.take(ceremony).filter(|c| c.agent == agent) else {
            return Err(invalid(
                "no such enrolment (unknown, expired or already used)",
            ));
        };
        // The proven begin stands for the proof; who finishes must still be allowed to enrol.
        let d = policy::decide_vault(
            VaultOperation::EnrolPasskey,
            &self.info.scope,
            policy::Presence::Proven,
            self.info.origin,
        );
        if d != policy::Decision::Allow {
            let reason = match d {
                policy::Decision::Deny(r) => r,
                _ => policy::Reason::OperationOutOfScope,
            };
            let mut e = self.info.entry("passkey-enrol", None, None, "deny");
            e.reason = Some(reason.code().to_string());
            self.store.audit(e)?;
            return Err(GateError::new(
                ErrorCode::PolicyDenied,
                format!("passkey-enrol refused: {}", reason.message()),
            )
            .hint(reason.hint()));
        }
        let registered = match passkey::register(&c.origin, credential, &c.state) {
            Ok(r) => r,
            Err(why) => {
                let mut e = self.info.entry("passkey-enrol", None, None, "deny");
                e.reason = Some(why.to_string());
                self.store.audit(e)?;
                return Err(invalid(format!("the passkey was not enrolled: {why}")));
            }
        };
        let mut state = load(self.store)?;
        let id = URL_SAFE_NO_PAD.encode(registered.cred_id.as_slice());
        if state.passkeys.iter().any(|p| p.id == id) {
            return Err(invalid("this passkey is already enrolled"));
        }
        state.passkeys.push(Enrolled {
            id: id.clone(),
            name: c.name.clone(),
            created: store::now(),
            last_used: None,
            credential: registered,
        });
        let mut e = self.info.entry("passkey-enrol", None, None, "ok");
        e.detail = Some(format!("passkey {id} ({})", c.name));
        save(self.store, &state, e)?;
        *self.passkeys_cache = Some(true);
        Ok(Reply::PasskeyEnrolled { id, name: c.name })
    }

    pub(super) fn passkey_list(&mut self) -> Result<Reply, GateError> {
        self.vault_gate(VaultOperation::ReadPasskeys, "passkey-list")?;
        let state = load(self.store)?;
        let passkeys = state
            .passkeys
            .iter()
            .map(|p| PasskeyView {
                id: p.id.clone(),
                name: p.name.clone(),
                created: p.created,
                last_used: p.last_used,
            })
            .collect();
        Ok(Reply::Passkeys { passkeys })
    }

    pub(super) fn passkey_remove(&mut self, id: &str) -> Result<Reply, GateError> {
        // Removing a passkey can switch `passkey_for` off, so while it is on, only a
        // passkey proves presence for it.
        self.need_proof_for(every_need());
        self.vault_gate(VaultOperation::RemovePasskey, "passkey-remove")?;
        let mut state = load(self.store)?;
        let Some(at) = state.passkeys.iter().position(|p| p.id == id) else {
            return Err(GateError::new(
                ErrorCode::PasskeyUnknown,
                format!("no passkey {id} is enrolled"),
            )
            .hint("`kovra passkey list` shows the enrolled passkeys"));
        };
        let gone = state.passkeys.remove(at);
        let mut e = self.info.entry("passkey-remove", None, None, "ok");
        e.detail = Some(format!("passkey {} ({})", gone.id, gone.name));
        save(self.store, &state, e)?;
        *self.passkeys_cache = Some(!state.passkeys.is_empty());
        Ok(Reply::Done {
            message: format!("passkey {} ({}) removed", gone.id, gone.name),
        })
    }

    /// The request options a browser needs to answer challenge `challenge` of this request
    /// with an enrolled passkey; `None` when none is enrolled.
    pub(super) fn passkey_options(&mut self, challenge: &str) -> Option<Value> {
        let state = load(self.store).ok()?;
        if state.passkeys.is_empty() {
            return None;
        }
        let derived = kovra_core::passkey::challenge(challenge, &self.digest);
        passkey::assertion_request(state.credentials(), &derived)
            .ok()
            .map(|(options, _)| options)
    }

    /// Check a passkey assertion for challenge `challenge` (already taken: single use) of
    /// this request. On success the counter is written back, with its audit entry, in one
    /// transaction. `Err` holds why, in words without any of the assertion.
    pub(super) fn proof_by_passkey(
        &mut self,
        challenge: &str,
        assertion: &Value,
    ) -> Result<Result<(), &'static str>, GateError> {
        let mut state = load(self.store)?;
        if state.passkeys.is_empty() {
            return Ok(Err("no passkey is enrolled"));
        }
        let Some(origin) = self.web_origin() else {
            return Ok(Err(
                "the Web UI is not running, so no origin can present a passkey",
            ));
        };
        let derived = kovra_core::passkey::challenge(challenge, &self.digest);
        let result = match passkey::verify(&origin, state.credentials(), &derived, assertion) {
            Ok(r) => r,
            Err(why) => return Ok(Err(why)),
        };
        let Some(used) = state
            .passkeys
            .iter_mut()
            .find(|p| p.credential.cred_id == *result.cred_id())
        else {
            return Ok(Err("the passkey is not enrolled"));
        };
        used.credential.counter = result.counter().max(used.credential.counter);
        used.credential.backup_state = result.backup_state();
        used.last_used = Some(store::now());
        let mut e = self.info.entry("passkey-proof", None, None, "allow");
        e.detail = Some(format!(
            "passkey {} ({}) accepted as a proof of presence",
            used.id, used.name
        ));
        save(self.store, &state, e)?;
        Ok(Ok(()))
    }
}
