//! An agent profile's grant on the egress proxy: a placeholder for every record pinned to a
//! provider that the profile may use, derived from the profile's seed (so the same for the
//! profile's life), and the value each stands for, held by the proxy while the vault is
//! unlocked. Its sandboxes' egress sockets and its loopback port (Claude Code's sandbox
//! names one) are bound to it, so programs there need no proxy credential of their own.

use std::collections::HashMap;
use std::sync::Arc;

use kovra_core::agent::AgentProfile;
use kovra_core::coord::Coordinate;
use kovra_core::envrefs::{self, RefValue};
use kovra_core::model::{Operation, Origin, Surface, VaultName};
use kovra_core::policy::{
    self, Delivery, PinFacts, Presence, ProfileFacts, RecordFacts, resolution_order,
};
use kovra_proto::ErrorCode;
use kovra_proxy::Swap;
use zeroize::Zeroizing;

use super::Gate;
use super::egress::{EgressHost, EgressTicket, LineFacts};
use super::sandbox::proxy_egress;
use crate::error::GateError;

/// A profile's live grant, dropped (values and all) when the vault locks.
pub(crate) struct ProfileGrant {
    _ticket: EgressTicket,
    tcp: Option<kovra_proxy::Bound>,
    /// (vault, coordinate, provider, placeholder) for every record the grant serves.
    placeholders: Vec<(
        VaultName,
        Coordinate,
        kovra_broker::registry::Provider,
        String,
    )>,
}

/// What the grant gives a sandbox or `kovra agent env`.
pub(super) struct GrantEnv {
    pub(super) host: Arc<EgressHost>,
    pub(super) id: u64,
    /// Proxy and trust variables.
    pub(super) routes: Vec<(String, String)>,
    /// `NAME=placeholder` (and base URLs) for the refs lines the grant serves.
    pub(super) variables: Vec<(String, String)>,
    /// Refs variables it does not serve (not pinned, refused, absent), with why.
    pub(super) skipped: Vec<String>,
}

impl Gate<'_> {
    /// (Re)build `profile`'s grant from the vault as it is now.
    pub(super) fn refresh_grant(&mut self, profile: &AgentProfile) -> Result<(), GateError> {
        let seed = match hex::decode(&profile.placeholder_seed) {
            Ok(s) if s.len() == 32 => s,
            // A profile made before placeholders were derived: give it a seed now.
            _ => self.seed_profile(&profile.name)?,
        };
        let registry = self.registry()?;
        let daemon = self.daemon;
        let host = daemon.egress_host(|| self.egress_ca())?;
        let (id, token) = daemon.grant_id(&profile.name, &host);
        let mut swaps = Vec::new();
        let mut lines = HashMap::new();
        let mut placeholders = Vec::new();
        for vault in self.store.vaults()? {
            if vault == VaultName::System || !profile.scope.addresses_vault(&vault) {
                continue;
            }
            let listing = self.store.list_shared(&vault)?;
            for rec in &listing.records {
                let Some(pinned) = self.pinned_provider(&rec.meta) else {
                    continue;
                };
                let Some(provider) = registry.get(&pinned).cloned() else {
                    continue;
                };
                let coord = rec.meta.coordinate.clone();
                let production = self.production(coord.env());
                let record = RecordFacts {
                    sensitivity: rec.meta.sensitivity,
                    revealable: rec.meta.revealable,
                    kind: rec.meta.kind(),
                };
                let req = policy::Request {
                    operation: Operation::Inject,
                    vault: &vault,
                    env: coord.env(),
                    production,
                    record: Some(record),
                    new_sensitivity: None,
                    new_revealable: None,
                    surface: Surface::Proxy,
                    origin: Origin::Agent,
                    presence: Presence::None,
                    allowlisted: false,
                    pin: Some(PinFacts {
                        pinned: Some(&pinned),
                        target: &pinned,
                    }),
                    delivery: Delivery::Placeholder,
                    profile: Some(ProfileFacts {
                        value_opt_in: profile.injects_value_of(&coord),
                    }),
                    destination: None,
                    remote: None,
                    // Decided as the record it looks like: a canary gets the placeholder a
                    // real record would (else its absence would set it apart), and its
                    // swap is decided as a canary's, which trips it (`egress.rs`).
                    canary: false,
                };
                let Ok(allowed) = policy::authorize(&req, &coord, &profile.scope) else {
                    continue;
                };
                let canary = self.is_canary(rec);
                let value = if canary {
                    // Never sent anywhere: nothing of the record is read.
                    Zeroizing::new(Vec::new())
                } else {
                    self.store.read_allowed(&allowed, None)?.1.into_zeroizing()
                };
                let label = format!("{}|{coord}", vault.label());
                let placeholder =
                    kovra_proxy::derive_placeholder(&provider.placeholder(), &seed, &label);
                lines.insert(
                    coord.to_string(),
                    LineFacts {
                        vault: vault.clone(),
                        env: coord.env().to_string(),
                        production,
                        record,
                        pinned: pinned.clone(),
                        canary,
                    },
                );
                swaps.push(Swap {
                    placeholder: placeholder.clone(),
                    value,
                    variable: coord.key().to_ascii_uppercase(),
                    coordinate: coord.to_string(),
                    host: rec.meta.provider_host.clone(),
                    provider: provider.clone(),
                });
                placeholders.push((vault.clone(), coord, provider, placeholder));
            }
        }
        // The old grant (same id) goes first: dropping its ticket unregisters the id.
        let tcp = self
            .grants
            .remove(&profile.name)
            .and_then(|mut g| g.tcp.take());
        host.judge_profile(id, profile.scope.clone(), &profile.name, lines);
        host.proxy.register(kovra_proxy::RunGrant {
            id,
            token,
            egress: proxy_egress(&profile.egress),
            swaps,
        });
        let tcp = match (tcp, profile.egress_port) {
            (Some(t), Some(p)) if t.port() == p => Some(t),
            (_, Some(p)) => Some(host.proxy.listen_tcp(p, id).map_err(|e| {
                GateError::new(
                    ErrorCode::SandboxUnavailable,
                    format!("agent profile `{}`'s egress port: {e}", profile.name),
                )
            })?),
            (_, None) => None,
        };
        let mut audit = self
            .info
            .entry("agent-grant", None, Some(&VaultName::System), "allow");
        audit.agent = Some(profile.name.clone());
        audit.detail = Some(format!(
            "{} placeholder(s) served for {}{}",
            placeholders.len(),
            profile.name,
            tcp.as_ref()
                .map(|t| format!(" on 127.0.0.1:{}", t.port()))
                .unwrap_or_default()
        ));
        self.store.audit(audit)?;
        self.grants.insert(
            profile.name.clone(),
            ProfileGrant {
                _ticket: EgressTicket { host, id },
                tcp,
                placeholders,
            },
        );
        Ok(())
    }

    /// The grant's variables for a refs file: each line whose coordinate the grant serves
    /// gets its placeholder (and its provider's base URL); the others are listed as skipped.
    pub(super) fn grant_env(
        &mut self,
        profile: &AgentProfile,
        source: &kovra_proto::RefsSource,
    ) -> Result<GrantEnv, GateError> {
        let env_name = source.env_name.as_deref();
        let refs = source
            .refs
            .as_deref()
            .map(|text| (text, source.refs_path.as_deref().unwrap_or(".env.refs")));
        if !self.grants.contains_key(&profile.name) {
            self.refresh_grant(profile)?;
        }
        let daemon = self.daemon;
        let host = daemon.egress_host(|| self.egress_ca())?;
        let (id, token) = daemon.grant_id(&profile.name, &host);
        let routes = host
            .route_env(&token, Vec::new())
            .into_iter()
            .map(|(k, v)| (k, v.to_string()))
            .collect();
        let mut variables = Vec::new();
        let mut skipped = Vec::new();
        let Some((text, file)) = refs else {
            return Ok(GrantEnv {
                host,
                id,
                routes,
                variables,
                skipped,
            });
        };
        let parsed = envrefs::parse(file, text)
            .map_err(|e| GateError::new(ErrorCode::RefsInvalid, e.to_string()))?;
        let project = self.project.clone().or(parsed.project.clone());
        // The one `${ENV}` rule; see `refs.rs`.
        let env_name = envrefs::choose_env(env_name, parsed.env.as_deref(), None).map(|(e, _)| e);
        let Some(grant) = self.grants.get(&profile.name) else {
            return Err(GateError::new(ErrorCode::Internal, "the grant vanished"));
        };
        for entry in &parsed.entries {
            let template = match &entry.value {
                RefValue::Secret { coordinate, .. } | RefValue::Descriptor { coordinate, .. } => {
                    coordinate
                }
                _ => continue,
            };
            let resolved = kovra_core::coord::CoordinateTemplate::parse(template)
                .and_then(|t| t.resolve(env_name));
            let Ok(coord) = resolved else {
                skipped.push(format!("{}: the coordinate does not resolve", entry.name));
                continue;
            };
            let order = resolution_order(coord.pin(), project.as_deref(), &profile.scope);
            let unpinned = coord.unpinned();
            let found = order.iter().find_map(|v| {
                grant
                    .placeholders
                    .iter()
                    .find(|(vault, c, _, _)| vault == v && *c == unpinned)
            });
            match found {
                Some((_, _, provider, placeholder)) => {
                    variables.push((entry.name.clone(), placeholder.clone()));
                    if let Some(var) = &provider.placeholder().base_url_variable
                        && !variables.iter().any(|(k, _)| k == var)
                    {
                        let url: Zeroizing<String> = host.proxy.base_url(&token, provider);
                        variables.push((var.clone(), url.to_string()));
                    }
                }
                None => skipped.push(format!(
                    "{}: not a record pinned to a provider that this profile may use (`kovra run` inside decides it)",
                    entry.name
                )),
            }
        }
        Ok(GrantEnv {
            host,
            id,
            routes,
            variables,
            skipped,
        })
    }
}
