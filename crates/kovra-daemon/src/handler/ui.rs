//! `ui`: start the web UI (`crate::web`) and mint a one-time login link for the caller.

use std::time::Duration;

use kovra_proto::{Context, ErrorCode, Reply, Secret};
use zeroize::Zeroizing;

use super::{Caller, Daemon, observed_origin};
use crate::error::GateError;

/// A web session idles out after this, or sooner when the vault's own idle timeout is shorter.
const WEB_IDLE: Duration = Duration::from_secs(15 * 60);

impl Daemon {
    pub(super) fn ui_request(
        &self,
        caller: &Caller,
        context: &Context,
        port: Option<u16>,
    ) -> Result<Reply, GateError> {
        if caller.agent.is_some() {
            return Err(GateError::new(
                ErrorCode::AgentSocketRefused,
                "`ui` is not served on an agent profile's socket",
            ));
        }
        // What the caller claimed, tightened by what the daemon saw: origin only tightens.
        let origin = context.origin.tighten(observed_origin(caller));
        let who = kovra_web::Who {
            origin,
            pid: caller.peer.pid,
            uid: caller.peer.uid,
            exe: caller.exe.clone(),
        };
        let (locks, idle) = {
            let inner = self.lock_inner();
            let vault_idle = Duration::from_secs(self.config.idle_timeout_secs.max(1));
            (
                std::sync::Arc::clone(&inner.locks),
                WEB_IDLE.min(vault_idle),
            )
        };
        let (url, ttl) = self
            .web
            .link(port, who, locks, idle)
            .map_err(|e| GateError::new(ErrorCode::IoError, format!("the web UI: {e}")))?;
        let mut inner = self.lock_inner();
        if let Some(store) = inner.store.as_mut() {
            let mut e = kovra_core::audit::AuditEntry {
                action: "ui-link".into(),
                surface: context.surface.as_str().into(),
                origin: origin.as_str().into(),
                decision: "ok".into(),
                pid: Some(caller.peer.pid),
                exe: caller.exe.clone(),
                ..Default::default()
            };
            e.detail = url.split("/login/").next().map(str::to_string);
            store.audit(e)?;
        }
        Ok(Reply::UiLink {
            url: Secret::from(Zeroizing::new(url.into_bytes())),
            expires_in: ttl.as_secs(),
        })
    }
}
