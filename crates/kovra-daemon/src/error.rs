//! Why a request got no reply: one type every handler returns, so a refusal travels up with
//! `?` and becomes a wire `Response` in exactly one place (`GateError::into_response`).
//! Every code is spelled once, at the site that refuses, through `GateError::new`; the
//! conversions from the library errors (store, broker, sharing, coordinates, TOTP seeds)
//! live here and nowhere else. Messages name coordinates, never values.

use kovra_core::coord::Coordinate;
use kovra_core::store::StoreError;
use kovra_core::totp;
use kovra_proto::ErrorCode;
use kovra_proto::{ErrorReply, ProofOptions, Response, Secret};
use kovra_share::ShareError;

/// A refusal: a stable code, a message for the human, perhaps a hint. A request that needs
/// a proof of presence is refused too, with the policy reason as its code and the challenge
/// the client may answer.
#[derive(Debug)]
pub struct GateError {
    code: ErrorCode,
    message: String,
    hint: Option<String>,
    challenge: Option<Box<Challenge>>,
}

/// What a client needs to answer a proof request (`Response::NeedsProof`).
#[derive(Debug)]
pub struct Challenge {
    /// The policy reason's code (`docs/errors.md` §4), not an error code.
    pub reason: &'static str,
    pub challenge: String,
    pub expires_in: u64,
    /// Set when the request was also parked for the human to approve out of band.
    pub approval: Option<String>,
    pub answer: Box<ProofOptions>,
}

/// For the daemon's log: the code and message (which never hold a value).
impl std::fmt::Display for GateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl GateError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        GateError {
            code,
            message: message.into(),
            hint: None,
            challenge: None,
        }
    }

    /// What the user can do about it.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The same reply in other words (a proof request naming what it approves).
    pub fn saying(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// A hint that only some variants of a library error have.
    fn maybe_hint(mut self, hint: Option<&str>) -> Self {
        self.hint = hint.map(str::to_string);
        self
    }

    /// Policy wants a proof of presence first (the challenge names the reason).
    pub fn needs_proof(message: String, challenge: Challenge) -> Self {
        GateError {
            challenge: Some(Box::new(challenge)),
            ..GateError::new(ErrorCode::NeedsProof, message)
        }
    }

    /// The error code (`needs-proof` for a proof request).
    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The code the audit trail records: the policy reason for a proof request.
    pub fn audit_code(&self) -> &'static str {
        match &self.challenge {
            Some(c) => c.reason,
            None => self.code.as_str(),
        }
    }

    /// Whether this is an error reply with `code` (not a proof request).
    pub fn is_error(&self, code: ErrorCode) -> bool {
        self.challenge.is_none() && self.code == code
    }

    /// The approval a proof request was parked under, if any.
    pub fn approval(&self) -> Option<&str> {
        self.challenge.as_ref()?.approval.as_deref()
    }

    /// The one place a refusal becomes a wire reply.
    pub fn into_response(self) -> Response {
        match self.challenge {
            Some(c) => Response::NeedsProof {
                challenge: c.challenge,
                code: c.reason.to_string(),
                message: self.message,
                expires_in: c.expires_in,
                approval: c.approval,
                answer: c.answer,
            },
            None => Response::Error(ErrorReply {
                code: self.code,
                message: self.message,
                hint: self.hint,
            }),
        }
    }

    pub fn locked() -> Self {
        GateError::new(ErrorCode::VaultLocked, "the vault is locked").hint("run `kovra unlock`")
    }

    /// Absent and out of scope are answered alike, so a scope cannot probe what it hides.
    pub fn not_found(coord: &Coordinate) -> Self {
        GateError::new(
            ErrorCode::NotFound,
            format!("no record at {coord} in this scope"),
        )
        .hint("`kovra list` shows the records you can address; `kovra add` creates one")
    }

    fn store(e: &StoreError) -> Self {
        let hint = match e {
            StoreError::NotInitialized(_) => Some("run `kovra init` to create a vault"),
            StoreError::AlreadyInitialized(_) => {
                Some("use `kovra unlock`; to start over, move the home away first")
            }
            StoreError::WrongPassphrase => Some("try again; the passphrase is case-sensitive"),
            StoreError::RecordTampered(_) => Some(
                "the row was changed outside kovra; restore the vault from a backup or remove the record",
            ),
            StoreError::VaultTampered(_) => {
                Some("the vault file was changed outside kovra; restore it from a backup")
            }
            StoreError::UnknownProject(_) => {
                Some("create it with `kovra project create NAME`, or check `kovra project list`")
            }
            StoreError::ProjectExists(_) => Some("pick another name, or use the existing project"),
            StoreError::AlreadyExists(_) => Some("use `kovra set` to replace its value"),
            StoreError::NoSuchVersion(..) => Some("`kovra history COORD` lists the versions"),
            StoreError::Corrupt(_) => {
                Some("the database file is damaged; restore it from a backup")
            }
            // A full disk, a lock held elsewhere, a read-only file: the catalogue's advice.
            _ => ErrorCode::from(e).hint(),
        };
        GateError::new(ErrorCode::from(e), e.to_string()).maybe_hint(hint)
    }

    fn broker(e: &kovra_broker::BrokerError) -> Self {
        GateError::new(broker_code(e), e.to_string()).maybe_hint(e.hint())
    }

    fn share(e: &ShareError) -> Self {
        let hint = match e {
            ShareError::RecipientInvalid(_) => Some(
                "give an age1… recipient (`kovra identity` on the other side) or an ssh-ed25519 public key",
            ),
            ShareError::NotForUs => Some(
                "it was sealed to another identity; ask the sender to share to `kovra identity`'s recipient",
            ),
            ShareError::TokenInvalid => Some(
                "type the token exactly as the sender received it (spaces and case do not matter)",
            ),
            _ => None,
        };
        GateError::new(share_code(e), e.to_string()).maybe_hint(hint)
    }
}

/// The code the daemon reports for a broker error.
pub fn broker_code(e: &kovra_broker::BrokerError) -> ErrorCode {
    use kovra_broker::BrokerError;
    match e {
        BrokerError::UnknownProvider(_) => ErrorCode::UnknownProvider,
        BrokerError::ProviderInvalid { .. } => ErrorCode::ProviderInvalid,
        BrokerError::PathInvalid(_) => ErrorCode::PathInvalid,
        BrokerError::CapabilityDenied { .. } => ErrorCode::CapabilityDenied,
        BrokerError::MethodInvalid(_) => ErrorCode::MethodInvalid,
        BrokerError::HeaderForbidden(_) => ErrorCode::HeaderForbidden,
        BrokerError::HeaderInvalid(_) => ErrorCode::HeaderInvalid,
        BrokerError::QueryForbidden(_) => ErrorCode::QueryForbidden,
        BrokerError::QueryInvalid(_) => ErrorCode::QueryInvalid,
        BrokerError::BodyTooLarge { .. } => ErrorCode::BodyTooLarge,
        BrokerError::ResponseTooLarge { .. } => ErrorCode::ResponseTooLarge,
        BrokerError::ResponseUnscrubbable { .. } => ErrorCode::ResponseUnscrubbable,
        BrokerError::Timeout { .. } => ErrorCode::UpstreamTimeout,
        BrokerError::Unreachable { .. } => ErrorCode::UpstreamUnreachable,
        BrokerError::Tls { .. } => ErrorCode::UpstreamTls,
        BrokerError::RateLimited { .. } => ErrorCode::RateLimited,
        BrokerError::Setup(_) => ErrorCode::BrokerUnavailable,
    }
}

/// The code the daemon reports for a sharing error.
pub fn share_code(e: &ShareError) -> ErrorCode {
    match e {
        ShareError::RecipientInvalid(_) => ErrorCode::RecipientInvalid,
        ShareError::NotForUs => ErrorCode::PackageNotForUs,
        ShareError::TokenInvalid => ErrorCode::TokenInvalid,
        ShareError::Invalid(_) => ErrorCode::PackageInvalid,
        ShareError::SignatureInvalid => ErrorCode::SignatureInvalid,
        ShareError::IdentityInvalid => ErrorCode::IdentityInvalid,
        ShareError::Seal(_) => ErrorCode::SealFailed,
    }
}

impl From<StoreError> for GateError {
    fn from(e: StoreError) -> Self {
        GateError::store(&e)
    }
}

impl From<kovra_broker::BrokerError> for GateError {
    fn from(e: kovra_broker::BrokerError) -> Self {
        GateError::broker(&e)
    }
}

impl From<ShareError> for GateError {
    fn from(e: ShareError) -> Self {
        GateError::share(&e)
    }
}

/// A coordinate as the user gave it.
pub fn parse_coord(text: &str) -> Result<Coordinate, GateError> {
    Coordinate::parse(text).map_err(|e| {
        GateError::new(
            ErrorCode::CoordinateInvalid,
            format!("invalid coordinate: {e}"),
        )
        .hint(e.hint())
    })
}

/// A project name as the caller gave it, checked (`project-invalid`).
pub fn check_project(name: &str) -> Result<(), GateError> {
    kovra_core::coord::validate_name(name).map_err(|e| {
        GateError::new(
            ErrorCode::ProjectInvalid,
            format!("invalid project name: {e}"),
        )
    })
}

/// A TOTP seed as the user gave it, refused with a stable code that never echoes it.
pub fn parse_totp(
    value: &Secret,
) -> Result<(zeroize::Zeroizing<Vec<u8>>, totp::TotpParams), GateError> {
    totp::parse_seed(value.expose()).map_err(|e| {
        GateError::new(ErrorCode::from(e), e.to_string())
            .hint("give the base32 seed or the otpauth://totp/ URI your service showed")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(e: GateError) -> serde_json::Value {
        serde_json::to_value(e.into_response()).unwrap()
    }

    #[test]
    fn an_error_keeps_its_code_message_and_hint_on_the_wire() {
        let v = wire(GateError::new(ErrorCode::PassphraseWeak, "too short").hint("longer"));
        assert_eq!(
            v,
            serde_json::json!({
                "status": "error", "code": "passphrase-weak", "message": "too short", "hint": "longer"
            })
        );
        let v = wire(GateError::new(ErrorCode::NoRun, "no hint"));
        assert!(v.get("hint").is_none(), "{v}");
    }

    #[test]
    fn a_store_error_keeps_the_store_code_and_its_hint() {
        let e = GateError::from(StoreError::WrongPassphrase);
        assert!(e.is_error(ErrorCode::WrongPassphrase));
        let v = wire(e);
        assert_eq!(v["hint"], "try again; the passphrase is case-sensitive");
    }

    #[test]
    fn a_proof_request_becomes_needs_proof_with_its_approval() {
        let e = GateError::needs_proof(
            "reveal: needs a proof".into(),
            Challenge {
                reason: "reveal-needs-proof",
                challenge: "c1".into(),
                expires_in: 60,
                approval: Some("a1".into()),
                answer: Box::default(),
            },
        );
        assert_eq!(e.approval(), Some("a1"));
        assert!(!e.is_error(ErrorCode::NeedsProof));
        let v = wire(e);
        assert_eq!(v["status"], "needs-proof");
        assert_eq!(v["code"], "reveal-needs-proof");
        assert_eq!(v["challenge"], "c1");
        assert_eq!(v["approval"], "a1");
    }
}
