//! The daemon's side of the database proxy (`kovra-dbproxy`): the proxy started with the
//! first run that has a `#url` line, each line's grant (the connection's URL opened into
//! daemon memory for the run's life, a fresh token for the child), and the
//! [`kovra_dbproxy::Judge`] that asks the core's `decide` again before every connection and
//! writes the trail.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kovra_core::audit::AuditEntry;
use kovra_core::model::{Operation, Origin, Surface, VaultName};
use kovra_core::policy::{self, Decision, Delivery, Presence, RecordFacts, Scope};
use kovra_core::secret::SecretBytes;
use kovra_dbproxy::{Grant, Stats, UpstreamError};
use kovra_proto::ErrorCode;
use zeroize::Zeroizing;

use super::refs::Line;
use super::{Daemon, Inner};
use crate::error::GateError;

/// The running proxy, for the daemon's life.
pub(crate) struct DbHost {
    proxy: kovra_dbproxy::DbProxy,
    judge: Arc<DbJudge>,
    next: AtomicU64,
}

/// One run's hold on the proxy: dropped when the run's child has exited (or the run never
/// started); its tokens stop working and its open connections are closed at that moment.
pub struct DbTicket {
    host: Arc<DbHost>,
    ids: Vec<u64>,
}

impl Drop for DbTicket {
    fn drop(&mut self) {
        for id in &self.ids {
            self.host.proxy.unregister(*id);
            lock(&self.host.judge.grants).remove(id);
        }
    }
}

/// The facts one `#url` line was decided with, kept to decide each connection the same way.
struct GrantFacts {
    scope: Scope,
    origin: Origin,
    presence: Presence,
    pid: u32,
    exe: Option<String>,
    agent: Option<String>,
    vault: VaultName,
    env: String,
    production: bool,
    record: RecordFacts,
    coordinate: String,
    variable: String,
    read_only: bool,
}

struct DbJudge {
    inner: Arc<Mutex<Inner>>,
    grants: Mutex<HashMap<u64, GrantFacts>>,
    /// When a refusal without a grant was last written: a flood of guesses writes one entry
    /// a second, not one per guess.
    last_stray: Mutex<Option<Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A connection decided as what it is: the record's `#url` injection, through the proxy,
/// with the facts the run was decided with.
fn connect_decision(facts: &GrantFacts) -> Decision {
    policy::decide(
        &policy::Request {
            operation: Operation::Inject,
            vault: &facts.vault,
            env: &facts.env,
            production: facts.production,
            record: Some(facts.record),
            new_sensitivity: None,
            new_revealable: None,
            surface: Surface::Proxy,
            origin: facts.origin,
            presence: facts.presence,
            allowlisted: false,
            pin: None,
            delivery: Delivery::Proxied,
            profile: None,
            destination: None,
            remote: None,
            canary: false,
        },
        &facts.scope,
    )
}

impl DbJudge {
    fn entry(&self, facts: Option<&GrantFacts>, action: &str, decision: &str) -> AuditEntry {
        AuditEntry {
            action: action.into(),
            coordinate: facts.map(|f| f.coordinate.clone()),
            vault: facts.map(|f| f.vault.label()),
            surface: Surface::Proxy.as_str().into(),
            origin: facts.map_or(Origin::Agent, |f| f.origin).as_str().into(),
            pid: facts.map(|f| f.pid),
            exe: facts.and_then(|f| f.exe.clone()),
            agent: facts.and_then(|f| f.agent.clone()),
            decision: decision.into(),
            ..AuditEntry::default()
        }
    }

    /// Write `e`, or say why it could not be written.
    fn write(&self, e: AuditEntry) -> Result<(), String> {
        let mut inner = lock(&self.inner);
        let Some(store) = inner.store.as_mut() else {
            return Err("the vault is locked: unlock it (`kovra unlock`), then retry".into());
        };
        store
            .audit(e)
            .map_err(|_| "the audit trail cannot be written".to_string())?;
        inner.last_activity = Instant::now();
        Ok(())
    }
}

impl kovra_dbproxy::Judge for DbJudge {
    fn may_connect(&self, grant: u64) -> Result<(), String> {
        // Lock order: never hold `grants` while taking `inner`.
        let (refused, entry) = {
            let grants = lock(&self.grants);
            let Some(facts) = grants.get(&grant) else {
                return Err("the run this connection belongs to has ended".into());
            };
            let refused = match connect_decision(facts) {
                Decision::Allow => None,
                Decision::NeedsProof(r) | Decision::Deny(r) => Some(r.message().to_string()),
                Decision::Unaddressable => Some("the record is out of this run's scope".into()),
            };
            let mut e = self.entry(
                Some(facts),
                "db-connect",
                if refused.is_some() { "deny" } else { "allow" },
            );
            e.detail = Some(format!(
                "{} (run grant {grant}{}){}",
                facts.variable,
                if facts.read_only { ", read-only" } else { "" },
                refused
                    .as_deref()
                    .map(|w| format!(": {w}"))
                    .unwrap_or_default()
            ));
            (refused, e)
        };
        let written = self.write(entry);
        match refused {
            Some(why) => Err(why),
            None => written,
        }
    }

    fn refused(&self, grant: Option<u64>, why: &str) {
        let grants = lock(&self.grants);
        let facts = grant.and_then(|g| grants.get(&g));
        if facts.is_none() {
            let mut last = lock(&self.last_stray);
            if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
                return;
            }
            *last = Some(Instant::now());
        }
        let mut e = self.entry(facts, "db-connect", "deny");
        e.detail = Some(why.to_string());
        drop(grants);
        if self.write(e).is_err() {
            tracing::warn!("a database proxy refusal could not be written to the trail");
        }
    }

    fn failed(&self, grant: u64, error: &UpstreamError) {
        let grants = lock(&self.grants);
        let mut e = self.entry(grants.get(&grant), "db-disconnect", "error");
        e.detail = Some(format!("the session was not opened: {error}"));
        drop(grants);
        let _ = self.write(e);
    }

    fn ended(&self, grant: u64, stats: &Stats) {
        let grants = lock(&self.grants);
        let mut e = self.entry(grants.get(&grant), "db-disconnect", "ok");
        if e.coordinate.is_none() {
            // The run ended first: its facts are gone, the grant id still names it.
            e.origin = Origin::Agent.as_str().into();
        }
        e.detail = Some(format!(
            "run grant {grant}: {} bytes to the server, {} to the client, {} ms{}",
            stats.to_server,
            stats.to_client,
            stats.duration.as_millis(),
            if stats.cut {
                "; closed when the run ended"
            } else {
                ""
            }
        ));
        drop(grants);
        let _ = self.write(e);
    }
}

impl Daemon {
    /// The proxy, started on first use.
    fn db_host(&self) -> Result<Arc<DbHost>, GateError> {
        let mut slot = lock(&self.dbproxy);
        if let Some(h) = slot.as_ref() {
            return Ok(Arc::clone(h));
        }
        let judge = Arc::new(DbJudge {
            inner: Arc::clone(&self.inner),
            grants: Mutex::new(HashMap::new()),
            last_stray: Mutex::new(None),
        });
        let proxy = kovra_dbproxy::DbProxy::start_unix(
            Arc::clone(&judge) as Arc<dyn kovra_dbproxy::Judge>,
            &self.paths.db_proxy_dir(),
        )
        .map_err(|e| GateError::new(ErrorCode::DbUnreachable, e.to_string()))?;
        let host = Arc::new(DbHost {
            proxy,
            judge,
            next: AtomicU64::new(1),
        });
        *slot = Some(Arc::clone(&host));
        Ok(host)
    }
}

/// The grants one run was issued.
#[derive(Default)]
pub(super) struct DbIssued {
    pub(super) ticket: Option<DbTicket>,
    /// Each token with its variable, masked in the child's output on its own: the URL is
    /// masked whole, and a child that prints only its password part must not show it.
    pub(super) tokens: Vec<(String, Zeroizing<Vec<u8>>)>,
}

impl super::Gate<'_> {
    /// A proxy URL for one `#url` line: the record's URL (`url`) goes to the line's grant
    /// (daemon memory, for the run's life), a URL with a fresh token to the child.
    pub(super) fn issue_connection(
        &mut self,
        line: &Line,
        url: SecretBytes,
        variable: &str,
        issued: &mut DbIssued,
    ) -> Result<Zeroizing<Vec<u8>>, GateError> {
        let internal = |why: &str| GateError::new(ErrorCode::Internal, why.to_string());
        let (record, vault) = line.record_in_vault("a connection")?;
        let coordinate = line.coord.unpinned().to_string();
        let url = Zeroizing::new(
            String::from_utf8(url.into_zeroizing().to_vec())
                .map_err(|_| internal("a connection URL that is not text"))?,
        );
        let endpoint = kovra_pgquery::endpoint(&kovra_pgquery::Target {
            url: &url,
            ca_pem: None,
        })
        .map_err(|e| {
            GateError::new(ErrorCode::ConnectionInvalid, format!("{coordinate}: {e}"))
                .hint("store it again with `kovra add COORD --postgres --force`")
        })?;
        drop(url);
        let host = self.daemon.db_host()?;
        let id = host.next.fetch_add(1, Ordering::Relaxed);
        let token = kovra_dbproxy::mint_token()
            .map_err(|e| GateError::new(ErrorCode::Internal, e.to_string()))?;
        let read_only = policy::proxied_read_only(self.info.origin);
        let grant = Grant {
            id,
            token,
            user: endpoint.user.clone(),
            database: endpoint.dbname.clone(),
            endpoint,
            read_only,
            coordinate: coordinate.clone(),
        };
        let child_url = host.proxy.url(&grant);
        issued.tokens.push((
            variable.to_string(),
            Zeroizing::new(grant.token.as_bytes().to_vec()),
        ));
        lock(&host.judge.grants).insert(
            id,
            GrantFacts {
                scope: self.info.scope.clone(),
                origin: self.info.origin,
                presence: self.presence_for(kovra_core::policy::ProofNeed::default()),
                pid: self.info.pid,
                exe: self.info.exe.clone(),
                agent: self.info.agent.as_ref().map(|p| p.name.clone()),
                vault,
                env: line.coord.env().to_string(),
                production: self.production(line.coord.env()),
                record: Self::facts(record),
                coordinate,
                variable: variable.to_string(),
                read_only,
            },
        );
        host.proxy.register(grant);
        match &mut issued.ticket {
            Some(t) => t.ids.push(id),
            None => {
                issued.ticket = Some(DbTicket {
                    host,
                    ids: vec![id],
                })
            }
        }
        Ok(Zeroizing::new(child_url.as_bytes().to_vec()))
    }
}
