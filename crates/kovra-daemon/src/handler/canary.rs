//! Canary records (`kovra canary create COORD --like PROVIDER`): a realistic fake credential
//! in a provider's key format, stored and listed like any record. Which records are canaries
//! is kept apart from them, sealed in one record of the system vault (and in daemon memory
//! while unlocked), so no field a listing shows sets a canary apart.
//!
//! Any use of a canary is refused by the core's `decide` (`Reason::CanaryTripped`). The gate
//! answers it as for a missing record ([`Gate::as_missing`]): the request goes on as if the
//! record were not there (the next vault, a `.env.refs` fallback, a share without it), and
//! when the request is done the trip is audited as `canary-tripped`, with the requester's
//! process facts, and raised as a desktop notification ([`Gate::report_trips`]).
//!
//! The canaries' values are also registered with the egress proxy's misuse scan, under a
//! grant of their own that no request can ever carry ([`CANARY_GRANT`]): a canary value seen
//! in any proxied request is a misuse of that grant's "placeholder", refused like one and
//! reported through [`report_seen`]. A pre-commit or agent-hook scan (not built yet) hooks
//! in the same way: match the set's values, then call [`report_seen`].

use std::cell::RefCell;
use std::sync::Arc;

use kovra_core::audit::AuditEntry;
use kovra_core::coord::Coordinate;
use kovra_core::model::{Operation, Sensitivity, VaultName};
use kovra_core::policy::{self, Decision};
use kovra_core::store::{self, Record, UnlockedStore};
use kovra_proto::{ErrorCode, Listing, Reply};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::{Gate, Inner, system};
use crate::error::{GateError, parse_coord};

/// The system-vault record holding the set.
const CANARIES: &str = "secret:kovra/canary/records";

/// One canary: which record it is (vault, coordinate and creation time, so a record made
/// later at the same coordinate is not one) and its fake value (for the scans).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Canary {
    pub(crate) vault: String,
    pub(crate) coordinate: String,
    pub(crate) created: u64,
    /// The provider whose key format it mimics.
    pub(crate) like: String,
    /// The fake value. Not a credential anywhere, but it stays as private as one: whoever
    /// knew it could tell the canary apart.
    value: String,
}

impl Drop for Canary {
    fn drop(&mut self) {
        self.value.zeroize();
    }
}

/// Every canary of the vault.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct CanarySet {
    canaries: Vec<Canary>,
}

impl CanarySet {
    /// The canary a stored record is, if it is one.
    pub(crate) fn of(&self, record: &Record) -> Option<&Canary> {
        // Asked for every record a request touches; most vaults have no canary at all.
        if self.canaries.is_empty() {
            return None;
        }
        let label = record.vault.label();
        let coordinate = record.meta.coordinate.to_string();
        self.canaries.iter().find(|c| {
            c.vault == label && c.coordinate == coordinate && c.created == record.meta.created
        })
    }

    /// The vault label of the canary at `coordinate` (a scan knows only the coordinate).
    pub(crate) fn vault_of(&self, coordinate: &str) -> Option<String> {
        self.canaries
            .iter()
            .find(|c| c.coordinate == coordinate)
            .map(|c| c.vault.clone())
    }
}

fn record_coordinate() -> Result<Coordinate, GateError> {
    Coordinate::parse(CANARIES)
        .map_err(|e| GateError::new(ErrorCode::Internal, format!("canary record: {e}")))
}

fn load(store: &mut UnlockedStore) -> Result<CanarySet, GateError> {
    Ok(system::load(store, &record_coordinate()?, "canary")?.unwrap_or_default())
}

/// The daemon's copy of the set, read from the vault on first use after an unlock. An
/// unreadable set is not cached (the next request reads it again) and counts as empty here:
/// `canary list` and `canary create` report it.
pub(super) fn cached(inner: &mut Inner) -> Arc<CanarySet> {
    if let Some(set) = &inner.canaries {
        return Arc::clone(set);
    }
    let Some(store) = inner.store.as_mut() else {
        return Arc::default();
    };
    match load(store) {
        Ok(set) => {
            let set = Arc::new(set);
            inner.canaries = Some(Arc::clone(&set));
            set
        }
        Err(e) => {
            tracing::warn!(error = %e, "the canary record is unreadable");
            Arc::default()
        }
    }
}

/// A use of a canary the core refused, to be reported once the request is done.
pub(super) struct Trip {
    coordinate: String,
    vault: VaultName,
    operation: Operation,
}

/// The trips of one request (decisions are taken through `&Gate`).
#[derive(Default)]
pub(super) struct Trips(RefCell<Vec<Trip>>);

/// The egress proxy's grant id holding the canaries' values: never a run's (ids count up
/// from 1), and its token is handed to no one.
pub(crate) const CANARY_GRANT: u64 = u64::MAX;

/// Report a canary's value a scan found (`where_` says which scan and where) as a trip: on
/// the trail (`entry` carries the requester's facts) and as a notification.
pub(crate) fn report_seen(
    inner: &mut Inner,
    mut entry: AuditEntry,
    coordinate: &str,
    where_: &str,
) {
    entry.action = "canary-tripped".into();
    entry.coordinate = Some(coordinate.to_string());
    entry.vault = inner.canaries.as_ref().and_then(|s| s.vault_of(coordinate));
    entry.decision = "deny".into();
    entry.reason = Some(policy::Reason::CanaryTripped.code().into());
    entry.detail = Some(format!("its value was seen in {where_}; refused"));
    match inner.store.as_mut() {
        Some(store) => {
            let _ = store.audit(entry);
        }
        None => tracing::warn!(
            coordinate,
            "a canary was tripped while the vault is locked (not on the trail)"
        ),
    }
    crate::approvals::notify_canary_tripped(coordinate, &format!("value seen in {where_}"));
}

impl Gate<'_> {
    /// Whether `record` is a canary: the fact the core decides with.
    pub(super) fn is_canary(&self, record: &Record) -> bool {
        self.canaries.of(record).is_some()
    }

    /// A refusal because the record is a canary becomes the answer for a missing record
    /// (`Unaddressable`), and the trip is noted for [`report_trips`](Gate::report_trips).
    pub(super) fn as_missing(
        &self,
        vault: &VaultName,
        coord: &Coordinate,
        operation: Operation,
        decision: Decision,
    ) -> Decision {
        if decision != Decision::Deny(policy::Reason::CanaryTripped) {
            return decision;
        }
        let coordinate = coord.unpinned().to_string();
        let mut trips = self.trips.0.borrow_mut();
        if !trips
            .iter()
            .any(|t| t.coordinate == coordinate && t.vault == *vault && t.operation == operation)
        {
            trips.push(Trip {
                coordinate,
                vault: vault.clone(),
                operation,
            });
        }
        Decision::Unaddressable
    }

    /// Whether this request tripped the canary at `coord` in `vault`.
    pub(super) fn tripped(&self, vault: &VaultName, coord: &Coordinate) -> bool {
        let coordinate = coord.unpinned().to_string();
        self.trips
            .0
            .borrow()
            .iter()
            .any(|t| t.coordinate == coordinate && t.vault == *vault)
    }

    /// Audit and notify each trip of this request (once the request is done: what it
    /// answered is what a missing record gets).
    pub(super) fn report_trips(&mut self) {
        let trips = std::mem::take(&mut *self.trips.0.borrow_mut());
        for t in trips {
            let what = operation_name(t.operation);
            let mut e = self
                .info
                .entry("canary-tripped", None, Some(&t.vault), "deny");
            e.coordinate = Some(t.coordinate.clone());
            e.reason = Some(policy::Reason::CanaryTripped.code().into());
            e.detail = Some(format!("{what} refused as not-found"));
            if let Err(err) = self.store.audit(e) {
                tracing::warn!(error = %err, "a canary trip could not be audited");
            }
            let by = format!(
                "{what} by pid {} ({}, {})",
                self.info.pid,
                self.info.exe.as_deref().unwrap_or("unknown executable"),
                self.info.origin.as_str()
            );
            crate::approvals::notify_canary_tripped(&t.coordinate, &by);
        }
    }

    /// Give the egress proxy's misuse scan the canaries' values (under [`CANARY_GRANT`],
    /// replacing what it had), so a canary value in any proxied request trips it.
    pub(super) fn canaries_to_proxy(
        &mut self,
        host: &super::egress::EgressHost,
    ) -> Result<(), GateError> {
        if self.canaries.canaries.is_empty() {
            host.proxy.unregister(CANARY_GRANT);
            return Ok(());
        }
        let registry = self.registry()?;
        let swaps = self
            .canaries
            .canaries
            .iter()
            .filter_map(|c| {
                let provider = registry.get(&c.like)?.clone();
                let variable = Coordinate::parse(&c.coordinate)
                    .map(|k| k.key().to_ascii_uppercase())
                    .unwrap_or_default();
                Some(kovra_proxy::Swap {
                    placeholder: c.value.clone(),
                    value: zeroize::Zeroizing::new(Vec::new()),
                    variable,
                    coordinate: c.coordinate.clone(),
                    provider,
                    host: None,
                })
            })
            .collect();
        host.proxy.register(kovra_proxy::RunGrant {
            id: CANARY_GRANT,
            token: zeroize::Zeroizing::new(kovra_proxy::mint_placeholder(
                &kovra_broker::registry::PlaceholderSpec::default(),
            )),
            egress: kovra_proxy::Egress::PinnedOnly,
            swaps,
        });
        Ok(())
    }

    /// `kovra canary create COORD --like PROVIDER`: a new record holding a fake key in the
    /// provider's format, made as `add` makes one (same defaults, same pin, same trail
    /// entry), then added to the sealed set.
    pub(super) fn canary_create(
        &mut self,
        coordinate: &str,
        like: &str,
        sensitivity: Option<Sensitivity>,
        description: Option<String>,
    ) -> Result<Reply, GateError> {
        let coord = parse_coord(coordinate)?;
        Self::check_description(&description)?;
        // An unknown provider is said before the passphrase is asked for.
        let registry = self.registry()?;
        let provider = registry.get(like).cloned().ok_or_else(|| {
            GateError::from(kovra_broker::BrokerError::UnknownProvider(like.into()))
        })?;
        self.vault_gate(policy::VaultOperation::CreateCanary, "canary-create")?;
        // The system vault first, on its own: its creation entry (which a full-scope agent
        // reads) then names no canary record.
        system::ensure_vault(
            self.store,
            &self.info.entry("canary-create", None, None, "ok"),
        )?;
        let mut set = load(self.store)?;
        // A key the provider claims by its name is pinned as `add` pins it (by the name);
        // any other is pinned explicitly, as `add --provider` does.
        let claimed = registry
            .claimant(coord.key())
            .is_some_and(|p| p.name == provider.name);
        if !claimed {
            self.creation_pin(&coord, Some(&provider.name))?;
        }
        let minted = kovra_proxy::mint_placeholder(&provider.placeholder());
        // Tests plant a value they know, to send it through the egress proxy (debug builds
        // only, as the broker's test upstream).
        #[cfg(debug_assertions)]
        let minted = std::env::var("KOVRA_TEST_CANARY_VALUE").unwrap_or(minted);
        let value = zeroize::Zeroizing::new(minted);
        // The record's own trail entry is a plain `add`'s: no proof noted on it.
        let proven = std::mem::replace(&mut self.presence, policy::Presence::None);
        let written = self.create(
            &coord,
            value.as_bytes(),
            sensitivity,
            description,
            false,
            "add",
        );
        self.presence = proven;
        let reply = written?;
        let Reply::Written { vault, .. } = &reply else {
            return Ok(reply);
        };
        let vault = vault.clone();
        let created = self
            .store
            .find(&vault_name(&vault), &coord.unpinned())?
            .map_or_else(store::now, |r| r.meta.created);
        set.canaries.push(Canary {
            vault,
            coordinate: coord.unpinned().to_string(),
            created,
            like: provider.name.clone(),
            value: value.to_string(),
        });
        let mut audit = self
            .info
            .entry("canary-create", None, Some(&VaultName::System), "allow");
        audit.reason = Some("proof-of-presence".into());
        audit.detail = Some(format!("a canary like {}", provider.name));
        system::save(
            self.store,
            &record_coordinate()?,
            "canary records (kovra canary create)",
            None,
            &set,
            audit,
        )?;
        let set = Arc::new(set);
        *self.canaries_cache = Some(Arc::clone(&set));
        self.canaries = set;
        Ok(reply)
    }

    /// After `rm` of `record`: if it was a canary, drop it from the set, so that a record
    /// made later at its coordinate is an ordinary one.
    pub(super) fn forget_canary(&mut self, record: &Record) -> Result<(), GateError> {
        if !self.is_canary(record) {
            return Ok(());
        }
        let mut set = load(self.store)?;
        set.canaries.retain(|c| {
            !(c.vault == record.vault.label()
                && c.coordinate == record.meta.coordinate.to_string()
                && c.created == record.meta.created)
        });
        let audit = self
            .info
            .entry("canary-forget", None, Some(&VaultName::System), "ok");
        system::save(
            self.store,
            &record_coordinate()?,
            "canary records (kovra canary create)",
            None,
            &set,
            audit,
        )?;
        let set = Arc::new(set);
        *self.canaries_cache = Some(Arc::clone(&set));
        self.canaries = set;
        Ok(())
    }

    /// `kovra canary list`: the canaries, as `list` shows records (only those still there).
    pub(super) fn canary_list(&mut self) -> Result<Reply, GateError> {
        self.vault_gate(policy::VaultOperation::ListCanaries, "canary-list")?;
        let set = load(self.store)?;
        self.registry()?;
        let mut records = Vec::new();
        let mut vaults: Vec<String> = set.canaries.iter().map(|c| c.vault.clone()).collect();
        vaults.sort();
        vaults.dedup();
        for label in vaults {
            let vault = vault_name(&label);
            if !self.store.vault_exists(&vault)? {
                continue;
            }
            for r in self.store.list_shared(&vault)?.records.iter() {
                if set.of(r).is_some() {
                    records.push(self.view(r));
                }
            }
        }
        let mut e = self
            .info
            .entry("canary-list", None, Some(&VaultName::System), "allow");
        e.reason = Some("proof-of-presence".into());
        e.detail = Some(format!("{} canaries", records.len()));
        self.store.audit(e)?;
        Ok(Reply::Records(Listing {
            records,
            tampered: 0,
            missing: 0,
        }))
    }
}

fn vault_name(label: &str) -> VaultName {
    match label.strip_prefix("project:") {
        Some(p) => VaultName::Project(p.to_string()),
        None if label == "system" => VaultName::System,
        None => VaultName::Global,
    }
}

/// How a trip names the use (the audit detail and the notification).
fn operation_name(operation: Operation) -> &'static str {
    match operation {
        Operation::Reveal => "reveal",
        Operation::Inject => "inject",
        Operation::Broker => "brokered call",
        Operation::Export => "share",
        Operation::Fingerprint => "fingerprint",
        Operation::Code => "code",
        Operation::Sign => "sign",
        Operation::Query | Operation::QueryWrite => "query",
        _ => "use",
    }
}
