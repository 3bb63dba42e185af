//! How a tool call ends for the agent: a result (structured or text) or a [`Failure`] shown
//! as an error result. Never a JSON-RPC error: the agent reads the code and message.

use kovra_proto::ErrorCode;
use rmcp::ErrorData;
use rmcp::model::{CallToolResult, ContentBlock};
use serde::Serialize;

/// A refusal or failure as the agent sees it: a stable code and a message (never a value).
#[derive(Debug)]
pub(crate) struct Failure {
    code: ErrorCode,
    message: String,
}

impl Failure {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// The error result the agent receives: `CODE: MESSAGE`.
    pub(crate) fn result(self) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text(format!(
            "{}: {}",
            self.code, self.message
        ))])
    }
}

/// A tool argument refused before anything reaches the daemon.
pub(crate) fn invalid(message: impl Into<String>) -> Failure {
    Failure::new(ErrorCode::InvalidArgument, message)
}

/// The daemon answered with a reply this tool never asked for.
pub(crate) fn unexpected() -> Failure {
    Failure::new(ErrorCode::Internal, "unexpected reply from the daemon")
}

/// `value` as JSON, or why it could not be encoded.
fn encode<T: Serialize>(value: &T) -> Result<serde_json::Value, Failure> {
    serde_json::to_value(value).map_err(|e| {
        Failure::new(
            ErrorCode::Internal,
            format!("cannot encode the result: {e}"),
        )
    })
}

/// A result carrying `value` as structured content (and its JSON text).
pub(crate) fn structured<T: Serialize>(value: &T) -> CallToolResult {
    encode(value).map_or_else(Failure::result, CallToolResult::structured)
}

/// A result carrying `value` as structured content once, with `summary` as its text: for
/// results too large to repeat as text (the summary says where the data is).
pub(crate) fn structured_with_summary<T: Serialize>(value: &T, summary: String) -> CallToolResult {
    encode(value).map_or_else(Failure::result, |v| {
        let mut result = CallToolResult::success(vec![ContentBlock::text(summary)]);
        result.structured_content = Some(v);
        result
    })
}

/// A plain text result.
pub(crate) fn text(message: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(message.into())])
}

/// The tool's answer: a failure becomes an error result, never a protocol error.
pub(crate) fn finish(
    outcome: Result<CallToolResult, Failure>,
) -> Result<CallToolResult, ErrorData> {
    Ok(outcome.unwrap_or_else(Failure::result))
}
