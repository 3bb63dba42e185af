//! Session grants: made by an approval that carried a proof (`approve ID --grant 15m`),
//! listed, revoked, and consulted when the same run comes again. The store is
//! `crate::session_grants`; what a grant may cover is the core's (`policy::decide_grant`),
//! and what it stands in for is decided by `policy::decide` (`Presence::Granted`).

use std::collections::BTreeSet;

use kovra_core::policy::{self, Decision, Grant, GrantKind, GrantSpecFacts};
use kovra_core::store;
use kovra_proto::{ErrorCode, GrantSpec, Reply};

use super::Gate;
use crate::error::GateError;
use crate::session_grants::ParkedRun;

/// How long a grant of `minutes` lasts, in seconds. Debug builds let a test shorten every
/// grant (`KOVRA_TEST_GRANT_SECS`) to see one expire; a release build has no such hook.
fn lifetime(minutes: u32) -> u64 {
    #[cfg(debug_assertions)]
    if let Some(secs) = std::env::var("KOVRA_TEST_GRANT_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        return secs;
    }
    u64::from(minutes) * 60
}

/// The facts of a parked request that the listing of its grant shows (as the approver read
/// them, already masked).
const SHOWN: [&str; 5] = [
    "command",
    "working directory",
    "refs file",
    "environment",
    "executable",
];

impl Gate<'_> {
    /// Put the grants that ran out since the last look on the trail (at the first grant
    /// operation or run after they expired; a lock ends the rest unannounced).
    fn audit_expired_grants(&mut self) -> Result<(), GateError> {
        for g in self.approvals.grants.take_expired(store::now()) {
            let mut e = self.info.entry("grant-expire", None, None, "ok");
            e.detail = Some(format!(
                "grant {} ({}) for approval {}",
                g.id, g.kind, g.approval
            ));
            self.store.audit(e)?;
        }
        Ok(())
    }

    /// Approve a parked run once and grant it (or its profile's coordinates) for a while.
    /// Refused before any proof is asked for when the grant could not be made.
    pub(super) fn approve_with_grant(
        &mut self,
        id: &str,
        spec: GrantSpec,
    ) -> Result<Reply, GateError> {
        self.audit_expired_grants()?;
        let asker = self.info.agent.as_ref().map(|p| p.name.clone());
        let run = self.approvals.pending_run(id, asker.as_deref());
        let facts = GrantSpecFacts {
            run: run.is_some(),
            production: run.as_ref().is_some_and(|r| r.production),
            minutes: spec.minutes,
            for_profile: spec.profile,
            through_profile: run.as_ref().is_some_and(|r| r.socket.is_some()),
        };
        if self.approvals.view(id, asker.as_deref()).is_some()
            && let Decision::Deny(reason) = policy::decide_grant(facts)
        {
            let mut e = self.info.entry("grant-create", None, None, "deny");
            e.reason = Some(reason.code().to_string());
            e.detail = Some(format!("for approval {id}"));
            self.store.audit(e)?;
            return Err(GateError::new(
                ErrorCode::PolicyDenied,
                format!("grant refused: {}", reason.message()),
            )
            .hint(reason.hint()));
        }
        let shown: Vec<kovra_proto::Fact> = self
            .approvals
            .view(id, asker.as_deref())
            .map(|v| {
                v.facts
                    .into_iter()
                    .filter(|f| SHOWN.contains(&f.name.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        // The approval itself: its proof, its audit entry (unknown ids are refused there).
        self.approval_decide(id, true)?;
        let Some(run) = run else {
            return Err(GateError::new(
                ErrorCode::Internal,
                "a grant without its run",
            ));
        };
        let now = store::now();
        let (kind, covers) = grant_of(run, spec.profile, shown);
        let grant = Grant {
            kind,
            expires: now.saturating_add(lifetime(spec.minutes)),
        };
        let view = self.approvals.grants.add(grant, covers, id, now);
        let mut e = self.info.entry("grant-create", None, None, "ok");
        e.detail = Some(format!(
            "grant {} ({}) for approval {id}, {} min",
            view.id, view.kind, spec.minutes
        ));
        e.reason = Some("proof-of-presence".into());
        self.store.audit(e)?;
        Ok(Reply::GrantMade {
            approval: id.to_string(),
            grant: view,
        })
    }

    /// The live grants: every one on the human's socket, a profile's own on its socket.
    pub(super) fn grant_list(&mut self) -> Result<Reply, GateError> {
        self.vault_gate(policy::VaultOperation::ReadApprovals, "approval-list")?;
        self.audit_expired_grants()?;
        let asker = self.info.agent.as_ref().map(|p| p.name.clone());
        Ok(Reply::Grants {
            grants: self.approvals.grants.list(asker.as_deref(), store::now()),
        })
    }

    /// End a grant now. Revoking only tightens: whoever sees a grant may end it.
    pub(super) fn grant_revoke(&mut self, id: &str) -> Result<Reply, GateError> {
        self.vault_gate(policy::VaultOperation::DenyRequest, "grant-revoke")?;
        self.audit_expired_grants()?;
        let asker = self.info.agent.as_ref().map(|p| p.name.clone());
        let now = store::now();
        let visible = self
            .approvals
            .grants
            .list(asker.as_deref(), now)
            .iter()
            .any(|g| g.id == id);
        let revoked = visible
            .then(|| self.approvals.grants.revoke(id, now))
            .flatten();
        let Some(view) = revoked else {
            return Err(GateError::new(
                ErrorCode::GrantUnknown,
                format!("no live grant {id} (unknown, expired or revoked)"),
            ));
        };
        let mut e = self.info.entry("grant-revoke", None, None, "ok");
        e.detail = Some(format!("grant {id} ({})", view.kind));
        self.store.audit(e)?;
        Ok(Reply::Done {
            message: format!("grant {id} revoked"),
        })
    }

    /// Before a run is decided: a live grant naming this very run lets it stand in for the
    /// proof where the core allows (`Presence::Granted`), and the use is on the trail.
    pub(super) fn consult_run_grant(&mut self) -> Result<(), GateError> {
        self.audit_expired_grants()?;
        if self.presence != policy::Presence::None {
            return Ok(());
        }
        let Some(run) = &self.parked_run else {
            return Ok(());
        };
        let Some(grant) = self
            .approvals
            .grants
            .covering_run(&run.facts(), store::now())
        else {
            return Ok(());
        };
        let mut e = self.info.entry("grant-use", None, None, "allow");
        e.detail = Some(format!(
            "grant {grant}: {}",
            run.argv.first().map(String::as_str).unwrap_or("")
        ));
        self.store.audit(e)?;
        self.presence = policy::Presence::Granted;
        self.granted_by = Some(grant);
        Ok(())
    }

    /// What a profile grant names for one coordinate of a run: the coordinate and the
    /// project it resolves in, so a grant made for one project's run covers no other's.
    pub(super) fn grant_coordinate(&self, coord: &kovra_core::coord::Coordinate) -> String {
        match &self.project {
            Some(p) => format!("{coord} (project {p})"),
            None => format!("{coord} (no project)"),
        }
    }

    /// For one line of a run through a profile's socket: the profile grant covering its
    /// coordinate, if any.
    pub(super) fn profile_grant_for(
        &mut self,
        coord: &kovra_core::coord::Coordinate,
    ) -> Option<String> {
        if self.presence != policy::Presence::None {
            return None;
        }
        // Only a profile's socket has grants: a run without one names nothing (this is
        // asked once per refs line).
        let socket = self.info.agent.as_ref().map(|p| p.name.as_str())?;
        let named = self.grant_coordinate(coord);
        self.approvals
            .grants
            .covering_injection(Some(socket), &named, store::now())
    }
}

/// What a grant of a parked run names, and what its listing shows.
fn grant_of(
    run: ParkedRun,
    profile: bool,
    shown: Vec<kovra_proto::Fact>,
) -> (GrantKind, Vec<kovra_proto::Fact>) {
    if profile {
        let coordinates: BTreeSet<String> = run.coordinates;
        let covers = vec![kovra_proto::Fact {
            name: "coordinates".into(),
            value: coordinates.iter().cloned().collect::<Vec<_>>().join(", "),
            untrusted: false,
        }];
        return (
            GrantKind::Profile {
                profile: run.socket.unwrap_or_default(),
                coordinates,
            },
            covers,
        );
    }
    (
        GrantKind::Run {
            argv: run.argv,
            cwd: run.cwd,
            refs_path: run.refs_path,
            refs_sha256: run.refs_sha256,
            digest: run.digest,
            socket: run.socket,
        },
        shown,
    )
}
