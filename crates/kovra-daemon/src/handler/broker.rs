//! The broker's side of the policy gate: choosing the credential, deciding `broker` and
//! `bind`, custom providers in the system vault. The call itself runs outside the state lock
//! (`crate::broker`).

use kovra_proto::ErrorCode;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use kovra_broker::registry::Origin as ProviderOrigin;
use kovra_broker::{CallerRequest, Provider, Registry};
use kovra_core::coord::Coordinate;
use kovra_core::model::{Metadata, Operation};
use kovra_core::policy::{Decision, VaultOperation};
use kovra_core::store;
use kovra_proto::{ApiRequest, Reply};

use super::{Gate, Op};
use crate::broker::ApiPlan;
use crate::error::{GateError, parse_coord};

/// Custom providers: one record of the system vault (sealed, versioned, tamper-checked).
const CUSTOM_PROVIDERS: &str = "secret:kovra/broker/providers";

fn custom_coord() -> Result<Coordinate, GateError> {
    Coordinate::parse(CUSTOM_PROVIDERS)
        .map_err(|e| GateError::new(ErrorCode::Internal, e.to_string()))
}

fn provider_json(p: &Provider, origin: ProviderOrigin) -> serde_json::Value {
    let mut v = serde_json::to_value(p).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "origin".into(),
            serde_json::to_value(origin).unwrap_or_default(),
        );
        obj.insert("host".into(), p.host().into());
        obj.insert(
            "rate_limit".into(),
            serde_json::to_value(p.rate_limit()).unwrap_or_default(),
        );
    }
    v
}

impl Gate<'_> {
    fn custom_providers(&mut self) -> Result<Vec<Provider>, GateError> {
        Ok(
            super::system::load(self.store, &custom_coord()?, "custom providers")?
                .unwrap_or_default(),
        )
    }

    /// The registry: built-in providers and the vault's custom ones.
    pub(super) fn registry(&mut self) -> Result<Arc<Registry>, GateError> {
        if let Some(r) = &self.registry {
            return Ok(Arc::clone(r));
        }
        if let Some(r) = self.registry_cache.as_ref() {
            let r = Arc::clone(r);
            self.registry = Some(Arc::clone(&r));
            return Ok(r);
        }
        let custom = self.custom_providers()?;
        let r = Arc::new(self.daemon.builtin_registry().clone().with_custom(custom)?);
        *self.registry_cache = Some(Arc::clone(&r));
        self.registry = Some(Arc::clone(&r));
        Ok(r)
    }

    /// Store the custom providers and forget the registry built from the old list.
    fn save_custom(
        &mut self,
        custom: &[Provider],
        entry: kovra_core::audit::AuditEntry,
    ) -> Result<(), GateError> {
        super::system::save(
            self.store,
            &custom_coord()?,
            "custom broker providers",
            None,
            &custom,
            entry,
        )?;
        self.registry = None;
        *self.registry_cache = None;
        Ok(())
    }

    /// The provider a record is pinned to: bound explicitly, or claimed by its key.
    pub(super) fn pinned_provider(&self, meta: &Metadata) -> Option<String> {
        if let Some(p) = &meta.provider {
            return Some(p.clone());
        }
        self.registry
            .as_ref()
            .and_then(|r| r.claimant(meta.coordinate.key()))
            .map(|p| p.name.clone())
    }

    pub(super) fn provider_list(&mut self) -> Result<Reply, GateError> {
        self.vault_gate(VaultOperation::ReadProviders, "providers")?;
        let registry = self.registry()?;
        let providers = registry.iter().map(|(p, o)| provider_json(p, o)).collect();
        Ok(Reply::Providers { providers })
    }

    pub(super) fn provider_show(&mut self, name: &str) -> Result<Reply, GateError> {
        self.vault_gate(VaultOperation::ReadProviders, "providers")?;
        let registry = self.registry()?;
        let p = registry.get(name).ok_or_else(|| {
            GateError::from(kovra_broker::BrokerError::UnknownProvider(name.into()))
        })?;
        let origin = registry.origin(name).unwrap_or(ProviderOrigin::Builtin);
        Ok(Reply::Providers {
            providers: vec![provider_json(p, origin)],
        })
    }

    pub(super) fn provider_add(&mut self, text: &str) -> Result<Reply, GateError> {
        // Parse first: a malformed file is a usage error whoever sends it.
        if text.len() > 64 * 1024 {
            return Err(GateError::new(
                ErrorCode::ProviderInvalid,
                "the provider file is larger than 64 KiB",
            ));
        }
        let provider = Provider::from_toml(text)?;
        let registry = self.registry()?;
        if registry.get(&provider.name).is_some() {
            return Err(GateError::new(
                ErrorCode::ProviderExists,
                format!("a provider named `{}` already exists", provider.name),
            )
            .hint("pick another name, or `kovra providers rm NAME` a custom one first"));
        }
        // Every rule the registry applies on load (unique claims), checked before saving.
        Registry::clone(&registry).with_custom(vec![provider.clone()])?;
        let captured = self.records_claimed_by(&provider)?;
        if !captured.is_empty() {
            self.facts.push(kovra_proto::Fact {
                name: "existing records it would pin (their values could then go to its hosts)"
                    .into(),
                value: captured.join(", "),
                untrusted: false,
            });
        }
        self.vault_gate(VaultOperation::AddProvider, "provider-add")?;
        let mut custom = self.custom_providers()?;
        custom.push(provider.clone());
        let mut entry = self.info.entry("provider-add", None, None, "allow");
        entry.detail = Some(format!(
            "provider {} hosts {}",
            provider.name,
            provider.hosts.join(",")
        ));
        entry.reason = Some("proof-of-presence".into());
        self.save_custom(&custom, entry)?;
        Ok(Reply::Done {
            message: format!(
                "provider {} added (hosts {})",
                provider.name,
                provider.hosts.join(", ")
            ),
        })
    }

    pub(super) fn provider_remove(&mut self, name: &str) -> Result<Reply, GateError> {
        self.vault_gate(VaultOperation::RemoveProvider, "provider-rm")?;
        let mut custom = self.custom_providers()?;
        let before = custom.len();
        custom.retain(|p| p.name != name);
        if custom.len() == before {
            let refused = if self.daemon.builtin_registry().get(name).is_some() {
                GateError::new(
                    ErrorCode::ProviderBuiltin,
                    format!("`{name}` is built in and cannot be removed"),
                )
            } else {
                GateError::new(
                    ErrorCode::UnknownProvider,
                    format!("no custom provider named `{name}`"),
                )
            };
            return Err(refused.hint("`kovra providers` lists them, with their origin"));
        }
        let mut entry = self.info.entry("provider-rm", None, None, "allow");
        entry.detail = Some(format!("provider {name}"));
        self.save_custom(&custom, entry)?;
        Ok(Reply::Done {
            message: format!("custom provider {name} removed"),
        })
    }

    /// Unpinned records whose key a new provider would claim, in every vault.
    fn records_claimed_by(&mut self, provider: &Provider) -> Result<Vec<String>, GateError> {
        let mut out = Vec::new();
        for vault in self.store.vaults()? {
            if vault == kovra_core::model::VaultName::System {
                continue;
            }
            let listing = self.store.list_shared(&vault)?;
            for r in &listing.records {
                if r.meta.provider.is_none() && provider.claims(r.meta.coordinate.key()) {
                    out.push(format!("{} ({vault})", r.meta.coordinate));
                }
            }
        }
        Ok(out)
    }

    /// Check that a provider exists and that a requested host is one of its hosts.
    fn provider_and_host(
        &mut self,
        name: &str,
        host: Option<&str>,
    ) -> Result<(Provider, Option<String>), GateError> {
        let registry = self.registry()?;
        let provider = registry.get(name).cloned().ok_or_else(|| {
            GateError::from(kovra_broker::BrokerError::UnknownProvider(name.into()))
        })?;
        let host = match host {
            None => None,
            Some(h) => {
                let h = h.to_ascii_lowercase();
                if h.starts_with("*.") || !provider.allows_host(&h) {
                    return Err(GateError::new(
                        ErrorCode::HostInvalid,
                        format!(
                            "{h} is not one of provider {}'s hosts ({})",
                            provider.name,
                            provider.hosts.join(", ")
                        ),
                    )
                    .hint("`kovra providers show NAME` lists its hosts"));
                }
                Some(h)
            }
        };
        Ok((provider, host))
    }

    /// For `add --provider` / `generate --provider`: the pin a new record is born with.
    pub(super) fn creation_pin(
        &mut self,
        coord: &Coordinate,
        provider: Option<&str>,
    ) -> Result<(), GateError> {
        let Some(name) = provider else {
            return Ok(());
        };
        let (p, _) = self.provider_and_host(name, None)?;
        if let Some(claimant) = self.registry.as_ref().and_then(|r| r.claimant(coord.key()))
            && claimant.name != p.name
        {
            return Err(GateError::new(
                ErrorCode::PolicyDenied,
                format!(
                    "{coord} is claimed by provider {} by its name; it cannot be pinned to {}",
                    claimant.name, p.name
                ),
            )
            .hint("pick a key that no provider claims, or the claiming provider"));
        }
        self.new_pin = Some(p.name);
        Ok(())
    }

    pub(super) fn bind(
        &mut self,
        coordinate: &str,
        provider: &str,
        host: Option<&str>,
    ) -> Result<Reply, GateError> {
        let coord = parse_coord(coordinate)?;
        let (p, host) = self.provider_and_host(provider, host)?;
        self.pin_target = Some(p.name.clone());
        let located = self.locate(&coord, &[Op::plain(Operation::Bind)], false)?;
        self.enforce("bind", &coord, &located)?;
        let (Some(vault), Some(record)) = (located.vault, located.record) else {
            return Err(GateError::not_found(&coord));
        };
        if record.meta.provider.as_deref() == Some(p.name.as_str())
            && record.meta.provider_host == host
        {
            return Ok(Reply::Done {
                message: format!("{coord} is already pinned to {}", p.name),
            });
        }
        if record.meta.provider.is_some() {
            return Err(GateError::new(
                ErrorCode::PolicyDenied,
                format!(
                    "{coord} is already bound to {}; a pin lasts for the record's life",
                    p.name
                ),
            )
            .hint("a pin's host cannot change either: add a new record bound the way you need"));
        }
        let meta = Metadata {
            updated: store::now(),
            provider: Some(p.name.clone()),
            provider_host: host.clone(),
            ..record.meta
        };
        let mut entry = self.allowed("bind", &coord, &vault);
        entry.detail = Some(format!(
            "provider {} host {}",
            p.name,
            host.as_deref().unwrap_or(p.host())
        ));
        let version = self.store.put(&vault, meta, None, entry)?;
        Ok(Reply::Written {
            coordinate: coord.unpinned().to_string(),
            vault: vault.label(),
            version,
        })
    }

    /// Decide a brokered call and hand back the plan the connection then carries out.
    pub(super) fn prepare_api(&mut self, req: ApiRequest) -> Result<ApiPlan, GateError> {
        let registry = self.registry()?;
        let provider = registry.get(&req.provider).cloned().ok_or_else(|| {
            GateError::from(kovra_broker::BrokerError::UnknownProvider(
                req.provider.clone(),
            ))
        })?;
        let body = match &req.body_base64 {
            None => None,
            Some(b) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .map_err(|_| {
                        GateError::new(ErrorCode::BodyInvalid, "the body is not valid base64")
                    })?,
            ),
        };
        // Every caller-side rule runs before the vault is even consulted.
        let checked = kovra_broker::rules::check(
            &provider,
            CallerRequest {
                method: req.method.clone(),
                path: req.path.clone(),
                query: req.query.clone(),
                headers: req.headers.clone(),
                body,
            },
        )?;
        let timeout = match req.timeout_secs {
            None => kovra_broker::call::DEFAULT_TIMEOUT,
            Some(s) if (1..=300).contains(&s) => Duration::from_secs(s),
            Some(s) => {
                return Err(GateError::new(
                    ErrorCode::TimeoutInvalid,
                    format!("the timeout must be 1 to 300 seconds, not {s}"),
                ));
            }
        };
        let coord = self.api_coordinate(&provider, &req)?;
        self.pin_target = Some(provider.name.clone());
        let mut located = self.locate(&coord, &[Op::plain(Operation::Broker)], false)?;
        let allowed = self.admit("api", &coord, &mut located, Operation::Broker)?;
        let (Some(vault), Some(record)) = (located.vault, located.record) else {
            return Err(GateError::not_found(&coord));
        };
        let host = record
            .meta
            .provider_host
            .clone()
            .unwrap_or_else(|| provider.host().to_string());
        self.daemon
            .broker()
            .map_err(|e| GateError::new(ErrorCode::BrokerUnavailable, e))?
            .admit(&provider)?;
        let (_, value) = self.open(&allowed, None)?;
        let mut entry = self.allowed("api", &coord, &vault);
        entry.detail = Some(format!(
            "provider {} {} https://{host}{} request_bytes {}",
            provider.name,
            checked.method,
            checked.path,
            checked.request_bytes()
        ));
        self.store.audit(entry)?;
        let secret_name = provider
            .secrets
            .iter()
            .find(|s| s.eq_ignore_ascii_case(coord.key()))
            .cloned()
            .unwrap_or_else(|| coord.key().to_string());
        let result = self
            .info
            .entry("api-result", Some(&coord), Some(&vault), "allow");
        Ok(ApiPlan {
            provider,
            host,
            checked,
            secret: value,
            secret_name,
            timeout,
            coordinate: coord.unpinned().to_string(),
            audit: result,
        })
    }

    /// `--secret`, or the first existing addressable `secret:ENV/PROVIDER/NAME`, for each
    /// name the provider claims in lower case, then as the provider file spells it.
    fn api_coordinate(
        &mut self,
        provider: &Provider,
        req: &ApiRequest,
    ) -> Result<Coordinate, GateError> {
        if let Some(c) = &req.secret {
            return parse_coord(c);
        }
        let env = req.env_name.as_deref().unwrap_or("dev");
        let mut tried = Vec::new();
        // A record claims a provider by its name in any case (`OPENAI_API_KEY` or
        // `openai_api_key`), so both spellings are looked for; coordinates are exact.
        let mut names: Vec<String> = Vec::new();
        for name in &provider.secrets {
            for spelling in [name.to_ascii_lowercase(), name.clone()] {
                if !names.contains(&spelling) {
                    names.push(spelling);
                }
            }
        }
        for name in &names {
            let text = format!("secret:{env}/{}/{name}", provider.name);
            let coord = parse_coord(&text)?;
            let located = self.locate(&coord, &[Op::plain(Operation::Metadata)], false)?;
            if located.decision != Decision::Unaddressable && located.record.is_some() {
                return Ok(coord);
            }
            tried.push(text);
        }
        Err(GateError::new(
            ErrorCode::NoCredential,
            format!(
                "no credential for provider {} in environment {env}: tried {}",
                provider.name,
                tried.join(", ")
            ),
        )
        .hint("add one with `kovra add COORD`, or name a record with --secret"))
    }
}

/// The pin facts `decide` needs for `broker` and `bind`: the provider the record is pinned
/// to (or claimed by), and the one the request names.
pub(super) fn pin_facts(
    gate: &Gate<'_>,
    record: Option<&kovra_core::store::Record>,
    operation: kovra_core::model::Operation,
) -> (Option<String>, String) {
    let target = gate.pin_target.clone().unwrap_or_default();
    let pinned = match (operation, record) {
        // Writing an explicit pin (perhaps to one host of a wildcard provider) is a binding
        // even where the name already claims the record for the same provider: only an
        // explicit pin counts as "already bound", and a claim by another provider refuses.
        (kovra_core::model::Operation::Bind, Some(r)) => r.meta.provider.clone().or_else(|| {
            gate.pinned_provider(&r.meta)
                .filter(|claimant| *claimant != target)
        }),
        (_, r) => r.and_then(|r| gate.pinned_provider(&r.meta)),
    };
    (pinned, target)
}
