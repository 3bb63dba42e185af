//! The CLI's one error type: a stable code, a message, a hint, and the exit code it maps to.

use kovra_client::ClientError;
use kovra_proto::{ErrorCode, ErrorReply};

#[derive(Debug, Clone)]
pub struct CliError {
    pub code: ErrorCode,
    pub message: String,
    pub hint: Option<String>,
    /// Already printed as part of a `--json` document; only its exit code remains to give.
    pub reported: bool,
}

impl CliError {
    pub fn new(code: ErrorCode, message: impl Into<String>, hint: Option<&str>) -> Self {
        CliError {
            code,
            message: message.into(),
            hint: hint.map(str::to_string),
            reported: false,
        }
    }

    pub fn already_reported(mut self) -> Self {
        self.reported = true;
        self
    }

    /// From the one catalogue (`kovra_proto::ErrorCode`, documented in docs/errors.md).
    pub fn exit_code(&self) -> u8 {
        self.code.exit_code()
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
            ErrorCode::CoordinateInvalid,
            format!("invalid coordinate: {e}"),
            Some(e.hint()),
        )
    }
}
