//! `kovra sandbox`: what the daemon gives a sandbox under an agent profile. The sandbox's
//! network namespace reaches the world only through a unix socket of the egress proxy in the
//! profile's socket directory, bound to a grant with the profile's egress policy; the grant
//! and the socket live as long as the connection that opened them.

use kovra_core::agent::EgressPolicy;
use kovra_core::model::VaultName;
use kovra_core::policy;
use kovra_proto::{ErrorCode, SandboxGrant};

use super::Gate;
use super::egress::EgressTicket;
use crate::error::GateError;

/// A running sandbox's hold on the proxy: dropped when `kovra sandbox` disconnects.
pub struct SandboxTicket {
    /// The profile, for `kovra status --agents`.
    pub agent: String,
    _listener: kovra_proxy::Bound,
    _egress: EgressTicket,
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
        let host = daemon.egress_host(|| self.egress_ca())?;
        let (id, token) = host.new_grant();
        let env = host
            .route_env(&token, Vec::new())
            .into_iter()
            .map(|(k, v)| (k, v.to_string()))
            .collect();
        host.proxy.register(kovra_proxy::RunGrant {
            id,
            token,
            egress: proxy_egress(&profile.egress),
            swaps: Vec::new(),
        });
        let ticket_egress = EgressTicket {
            host: host.clone(),
            id,
        };
        let dir = daemon.agents.dir_of(&profile.name);
        let egress_socket = format!("egress-{id}.sock");
        let listener = host
            .proxy
            .listen_unix(&dir.join(&egress_socket), id)
            .map_err(|e| GateError::new(ErrorCode::SandboxUnavailable, e.to_string()))?;
        let mut audit = self
            .info
            .entry("sandbox-open", None, Some(&VaultName::System), "allow");
        audit.agent = Some(profile.name.clone());
        audit.detail = Some(format!(
            "{}: egress {} through {}",
            profile.name,
            profile.egress.describe(),
            socket.display()
        ));
        self.store.audit(audit)?;
        let paths = &daemon.paths;
        let mut hidden = vec![paths.home.display().to_string()];
        if let Some(dir) = paths.socket.parent() {
            hidden.push(dir.display().to_string());
        }
        let grant = SandboxGrant {
            agent: profile.name.clone(),
            socket_dir: dir.display().to_string(),
            egress_socket,
            proxy_port: host.proxy.addr().port(),
            env,
            read_only: vec![host.bundle.display().to_string()],
            hidden,
        };
        Ok((
            grant,
            SandboxTicket {
                agent: profile.name,
                _listener: listener,
                _egress: ticket_egress,
            },
        ))
    }
}
