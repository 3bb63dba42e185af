//! `kovra sandbox`: what the daemon gives a sandbox under an agent profile. The sandbox's
//! network namespace reaches the world only through a unix socket of the egress proxy in the
//! profile's socket directory, bound to a grant with the profile's egress policy; the grant
//! and the socket live as long as the connection that opened them.

use kovra_core::agent::EgressPolicy;
use kovra_core::model::VaultName;
use kovra_core::policy;
use kovra_proto::{ErrorCode, SandboxGrant};

use super::Gate;
use crate::error::GateError;

/// A running sandbox's hold on the proxy: dropped when `kovra sandbox` disconnects. The
/// egress socket is bound to the profile's grant, which the vault's lock suspends and the
/// next unlock restores under the same id.
pub struct SandboxTicket {
    /// The profile, for `kovra status --agents`.
    pub agent: String,
    _listener: kovra_proxy::Bound,
}

/// The proxy's form of a profile's egress policy.
pub(super) fn proxy_egress(policy: &EgressPolicy) -> kovra_proxy::Egress {
    match policy {
        EgressPolicy::PinnedOnly => kovra_proxy::Egress::PinnedOnly,
        EgressPolicy::Any => kovra_proxy::Egress::Open,
        EgressPolicy::Domains(d) => {
            kovra_proxy::Egress::Domains(d.iter().cloned().collect::<Vec<_>>().into())
        }
    }
}

impl Gate<'_> {
    pub(super) fn sandbox_open(
        &mut self,
        agent: &str,
        refs: &kovra_proto::RefsSource,
    ) -> Result<(SandboxGrant, SandboxTicket), GateError> {
        self.vault_gate(policy::VaultOperation::ReadAgents, "sandbox-open")?;
        let profile = self.profile_named(agent)?;
        let daemon = self.daemon;
        let socket = daemon.agents.open(&profile.name).map_err(|e| {
            GateError::new(
                ErrorCode::SandboxUnavailable,
                format!("the agent socket of `{agent}` cannot be opened: {e}"),
            )
        })?;
        let granted = self.grant_env(&profile, refs)?;
        let dir = daemon.agents.dir_of(&profile.name);
        let egress_socket = format!("egress-{}.sock", unique());
        let listener = granted
            .host
            .proxy
            .listen_unix(&dir.join(&egress_socket), granted.id)
            .map_err(|e| GateError::new(ErrorCode::SandboxUnavailable, e.to_string()))?;
        let mut audit = self
            .info
            .entry("sandbox-open", None, Some(&VaultName::System), "allow");
        audit.agent = Some(profile.name.clone());
        audit.detail = Some(format!(
            "{}: egress {} through {}; {} placeholder variable(s)",
            profile.name,
            profile.egress.describe(),
            socket.display(),
            granted.variables.len()
        ));
        self.store.audit(audit)?;
        let paths = &daemon.paths;
        let mut hidden = vec![paths.home.display().to_string()];
        // The config and the log, when they live in their XDG places: hidden like the home
        // that used to hold them.
        for dir in [&paths.config_dir, &paths.state_dir] {
            if *dir != paths.home {
                hidden.push(dir.display().to_string());
            }
        }
        if let Some(dir) = paths.socket.parent() {
            hidden.push(dir.display().to_string());
        }
        let mut env = granted.routes;
        env.extend(granted.variables);
        let grant = SandboxGrant {
            agent: profile.name.clone(),
            socket_dir: dir.display().to_string(),
            egress_socket,
            proxy_port: granted.host.proxy.addr().port(),
            env,
            read_only: vec![granted.host.bundle.display().to_string()],
            hidden,
            skipped: granted.skipped,
        };
        Ok((
            grant,
            SandboxTicket {
                agent: profile.name,
                _listener: listener,
            },
        ))
    }
}

/// A name no other sandbox of this daemon uses.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
