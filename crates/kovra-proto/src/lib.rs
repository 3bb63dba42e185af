//! The daemon wire: versioned requests and replies as JSON inside capped, length-prefixed
//! frames (see `docs/protocol.md`). Types and framing only: no sockets are opened here.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod agents;
pub mod digest;
pub mod error_code;
pub mod frame;
pub mod grants;
pub mod homelock;
pub mod import;
pub mod paths;
pub mod procfs;
pub mod query;
pub mod reply;
pub mod scan;
pub mod secret;
pub mod ssh;
pub mod view_json;
pub mod views;
pub mod wire;

pub use agents::{AgentSpec, AgentView, RefsSource, SandboxGrant};
pub use error_code::ErrorCode;
pub use grants::{GrantSpec, GrantView};
pub use kovra_core::agent::EgressPolicy;
/// The model and policy types that travel on the wire, so a surface needs this crate and
/// the client, not the core.
pub use kovra_core::audit::AuditEntry;
pub use kovra_core::model::{OperationClass, Origin, Sensitivity, Surface};
pub use kovra_core::policy::{DeliveryChoice, EnvScope, ProjectScope, Scope};
pub use kovra_core::store::AuditReport;
pub use query::{QueryColumn, QueryReply, QueryRequest};
pub use reply::*;
pub use scan::{ScanFinding, ScanReply, ScanRequest, ScanText};
pub use secret::Secret;
pub use ssh::{SshHost, SshHostSpec, SshReply, SshRequest};
pub use views::*;
pub use wire::*;
