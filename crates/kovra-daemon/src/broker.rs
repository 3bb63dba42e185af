//! Carrying out an approved brokered call, outside the daemon's state lock: other requests
//! keep flowing while the upstream answers. The result is audited before it is returned.

use kovra_core::secret::SecretBytes;
use kovra_proto::ErrorCode;
use std::time::Duration;

use base64::Engine as _;
use kovra_broker::{Checked, Provider};
use kovra_core::audit::AuditEntry;
use kovra_proto::{ApiReply, ErrorReply, Reply, Response};

use crate::handler::Daemon;

/// One decided call. Dropped (and the credential wiped) when the call is done.
pub struct ApiPlan {
    pub provider: Provider,
    pub host: String,
    pub checked: Checked,
    pub secret: SecretBytes,
    /// The name responses are scrubbed to (`[kovra:OPENAI_API_KEY]`).
    pub secret_name: String,
    pub timeout: Duration,
    pub coordinate: String,
    /// The `api-result` entry, completed with the outcome.
    pub audit: AuditEntry,
}

/// What a connection carries out after the gate allowed it.
pub enum Plan {
    Run(Box<crate::run::RunPlan>),
    Api(Box<ApiPlan>),
    /// A brokered ssh command (`crate::sshexec`).
    Ssh(Box<crate::sshexec::SshPlan>),
    /// A brokered query (`crate::queryexec`).
    Query(Box<crate::queryexec::QueryPlan>),
    /// A host to pin once it shows the accepted key.
    SshPin(Box<crate::sshexec::PinPlan>),
    /// A sandbox's egress: held until the client hangs up.
    Sandbox(Box<crate::handler::SandboxTicket>),
    /// A streamed listing's pages, written after its head (`crate::stream`).
    Records(Box<crate::stream::RecordsPlan>),
}

pub fn execute(daemon: &Daemon, plan: ApiPlan) -> Response {
    let ApiPlan {
        provider,
        host,
        checked,
        secret,
        secret_name,
        timeout,
        coordinate,
        mut audit,
    } = plan;
    let broker = match daemon.broker() {
        Ok(b) => b,
        Err(e) => return error(ErrorCode::BrokerUnavailable, e, None),
    };
    let path = checked.path.clone();
    let method = checked.method.clone();
    let result = broker.call(
        &provider,
        &host,
        checked,
        secret.expose(),
        &secret_name,
        timeout,
    );
    drop(secret);
    let response = match result {
        Ok(out) => {
            audit.decision = "ok".into();
            audit.detail = Some(format!(
                "provider {} {method} https://{host}{path} status {} response_bytes {} duration_ms {}",
                provider.name,
                out.status,
                out.response_bytes,
                out.duration.as_millis()
            ));
            let (body, body_base64) = match String::from_utf8(out.body) {
                Ok(text) => (Some(text), None),
                Err(e) => (
                    None,
                    Some(base64::engine::general_purpose::STANDARD.encode(e.into_bytes())),
                ),
            };
            Response::Ok {
                reply: Box::new(Reply::Api(Box::new(ApiReply {
                    status: out.status,
                    host: out.host,
                    coordinate,
                    headers: out.headers,
                    body,
                    body_base64,
                    removed_headers: out.removed_headers,
                    duration_ms: out.duration.as_millis() as u64,
                }))),
            }
        }
        Err(e) => {
            audit.decision = "error".into();
            audit.reason = Some(crate::error::broker_code(&e).to_string());
            audit.detail = Some(format!(
                "provider {} {method} https://{host}{path}",
                provider.name
            ));
            error(crate::error::broker_code(&e), e.to_string(), e.hint())
        }
    };
    if let Err(why) = daemon.audit_outside(audit) {
        return error(
            ErrorCode::AuditFailed,
            format!(
                "the call to {host} finished, but its audit entry could not be written ({why}); the response is withheld"
            ),
            Some("unlock the vault and check `kovra audit verify`"),
        );
    }
    response
}

fn error(code: ErrorCode, message: impl Into<String>, hint: Option<&str>) -> Response {
    Response::Error(ErrorReply {
        code,
        message: message.into(),
        hint: hint.map(str::to_string),
    })
}
