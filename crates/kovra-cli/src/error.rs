//! The CLI's one error type: a stable code, a message, a hint, and the exit code it maps to.

use kovra_client::ClientError;
use kovra_proto::ErrorReply;

#[derive(Debug, Clone)]
pub struct CliError {
    pub code: String,
    pub message: String,
    pub hint: Option<String>,
    /// Already printed as part of a `--json` document; only its exit code remains to give.
    pub reported: bool,
}

impl CliError {
    pub fn new(code: &str, message: impl Into<String>, hint: Option<&str>) -> Self {
        CliError {
            code: code.to_string(),
            message: message.into(),
            hint: hint.map(str::to_string),
            reported: false,
        }
    }

    pub fn already_reported(mut self) -> Self {
        self.reported = true;
        self
    }

    /// Documented in docs/errors.md; stable.
    pub fn exit_code(&self) -> u8 {
        match self.code.as_str() {
            "coordinate-invalid" | "usage" | "capability-denied" | "path-invalid"
            | "method-invalid" | "header-forbidden" | "header-invalid" | "query-forbidden"
            | "query-invalid" | "body-too-large" | "body-invalid" | "timeout-invalid"
            | "host-invalid" | "provider-invalid" | "recipient-invalid" | "ttl-invalid" => 2,
            "not-executable" => 126,
            "command-not-found" => 127,
            "not-found" | "unknown-provider" | "no-credential" | "nothing-to-share" => 3,
            "policy-denied" | "proof-invalid" | "peer-refused" => 4,
            "needs-proof" | "approval-needed" | "sender-unknown" => 5,
            "approval-denied" | "approval-expired" => 4,
            "vault-locked" | "not-initialized" => 6,
            "daemon-unreachable" => 7,
            "record-tampered"
            | "vault-tampered"
            | "database-corrupt"
            | "audit-broken"
            | "daemon-unauthenticated" => 8,
            _ => 1,
        }
    }
}

impl From<ErrorReply> for CliError {
    fn from(e: ErrorReply) -> Self {
        CliError {
            code: e.code,
            message: e.message,
            hint: e.hint,
            reported: false,
        }
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        CliError::new(e.code(), e.to_string(), Some(e.hint()))
    }
}

impl From<kovra_core::coord::CoordError> for CliError {
    fn from(e: kovra_core::coord::CoordError) -> Self {
        CliError::new(
            "coordinate-invalid",
            format!("invalid coordinate: {e}"),
            Some(e.hint()),
        )
    }
}
