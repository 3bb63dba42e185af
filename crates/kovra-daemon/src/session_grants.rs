//! Session grants, held here only: in the daemon's memory, dropped at lock, never on disk.
//! An agent of the same user can write any file, so nothing it could write may stand in for
//! the human's approval; a grant is made only by an approval that carried a proof
//! (`kovra approve ID --grant 15m`) and lets through only the run it names
//! (`kovra_core::policy::Grant::covers_run`), and then only where the core lets a grant
//! stand in for a proof (`kovra_core::policy::grant_stands_in`).

use std::collections::{BTreeSet, HashMap};

use kovra_core::crypto;
use kovra_core::policy::{Grant, GrantKind, RunFacts};
use kovra_proto::{Fact, GrantView};

/// At most this many grants live at once; a new one past it ends the soonest to expire.
const MAX_GRANTS: usize = 16;

/// A run, as the daemon saw it when it was parked, owned: what a grant of it names.
#[derive(Debug, Clone)]
pub struct ParkedRun {
    pub argv: Vec<String>,
    pub cwd: String,
    pub refs_path: Option<String>,
    pub refs_sha256: [u8; 32],
    pub digest: [u8; 32],
    pub socket: Option<String>,
    /// Some line of the run named a production environment.
    pub production: bool,
    /// The coordinates the run injects (for a profile grant).
    pub coordinates: BTreeSet<String>,
}

impl ParkedRun {
    pub fn facts(&self) -> RunFacts<'_> {
        RunFacts {
            argv: &self.argv,
            cwd: &self.cwd,
            refs_path: self.refs_path.as_deref(),
            refs_sha256: self.refs_sha256,
            digest: self.digest,
            socket: self.socket.as_deref(),
        }
    }
}

struct Held {
    grant: Grant,
    /// What the listing shows: the parked request's facts as the approver read them (the
    /// requester's words already masked of the vault's values).
    covers: Vec<Fact>,
    created: u64,
    approval: String,
}

#[derive(Default)]
pub struct SessionGrants {
    held: HashMap<String, Held>,
    /// Grants that ran out, until the gate puts them on the trail (`take_expired`).
    expired: Vec<GrantView>,
}

impl SessionGrants {
    fn sweep(&mut self, now: u64) {
        let ended: Vec<String> = self
            .held
            .iter()
            .filter(|(_, h)| !h.grant.live(now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in ended {
            if let Some(h) = self.held.remove(&id)
                && self.expired.len() < MAX_GRANTS
            {
                self.expired.push(view(&id, &h, now));
            }
        }
    }

    /// The grants that expired since the last call (at most [`MAX_GRANTS`] are remembered).
    pub fn take_expired(&mut self, now: u64) -> Vec<GrantView> {
        self.sweep(now);
        std::mem::take(&mut self.expired)
    }

    /// Hold a new grant made by approval `approval`; returns its view.
    pub fn add(&mut self, grant: Grant, covers: Vec<Fact>, approval: &str, now: u64) -> GrantView {
        self.sweep(now);
        if self.held.len() >= MAX_GRANTS
            && let Some(soonest) = self
                .held
                .iter()
                .min_by_key(|(_, h)| h.grant.expires)
                .map(|(k, _)| k.clone())
        {
            self.held.remove(&soonest);
        }
        let id = format!("g{}", hex::encode(crypto::random_array::<3>()));
        let held = Held {
            grant,
            covers,
            created: now,
            approval: approval.to_string(),
        };
        let view = view(&id, &held, now);
        self.held.insert(id, held);
        view
    }

    /// The id of a live run grant covering this run, if any.
    pub fn covering_run(&mut self, run: &RunFacts<'_>, now: u64) -> Option<String> {
        self.sweep(now);
        self.held
            .iter()
            .find(|(_, h)| h.grant.covers_run(run, now))
            .map(|(id, _)| id.clone())
    }

    /// The id of a live profile grant covering `coordinate` for profile `socket`, if any.
    pub fn covering_injection(
        &mut self,
        socket: Option<&str>,
        coordinate: &str,
        now: u64,
    ) -> Option<String> {
        self.sweep(now);
        self.held
            .iter()
            .find(|(_, h)| h.grant.covers_injection(socket, coordinate, now))
            .map(|(id, _)| id.clone())
    }

    /// The live grants `asker` may see (the human's socket: all; a profile's: its own),
    /// soonest to expire first.
    pub fn list(&mut self, asker: Option<&str>, now: u64) -> Vec<GrantView> {
        self.sweep(now);
        let mut out: Vec<(u64, GrantView)> = self
            .held
            .iter()
            .map(|(id, h)| (h.grant.expires, view(id, h, now)))
            .filter(|(_, v)| asker.is_none() || v.agent.as_deref() == asker)
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
        out.into_iter().map(|(_, v)| v).collect()
    }

    /// End a grant now; its view when it was live.
    pub fn revoke(&mut self, id: &str, now: u64) -> Option<GrantView> {
        self.sweep(now);
        self.held.remove(id).map(|h| view(id, &h, now))
    }

    pub fn clear(&mut self) {
        self.held.clear();
        self.expired.clear();
    }
}

fn view(id: &str, held: &Held, now: u64) -> GrantView {
    let (kind, agent) = match &held.grant.kind {
        GrantKind::Run { socket, .. } => ("run", socket.clone()),
        GrantKind::Profile { profile, .. } => ("profile", Some(profile.clone())),
    };
    GrantView {
        id: id.to_string(),
        kind: kind.into(),
        agent,
        covers: held.covers.clone(),
        created: held.created,
        expires_in: held.grant.expires.saturating_sub(now),
        approval: held.approval.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(argv: &str, socket: Option<&str>) -> ParkedRun {
        ParkedRun {
            argv: vec![argv.to_string()],
            cwd: "/p".into(),
            refs_path: None,
            refs_sha256: [1; 32],
            digest: [2; 32],
            socket: socket.map(str::to_string),
            production: false,
            coordinates: BTreeSet::from(["secret:dev/api/key".to_string()]),
        }
    }

    fn run_grant(r: &ParkedRun, expires: u64) -> Grant {
        Grant {
            kind: GrantKind::Run {
                argv: r.argv.clone(),
                cwd: r.cwd.clone(),
                refs_path: r.refs_path.clone(),
                refs_sha256: r.refs_sha256,
                digest: r.digest,
                socket: r.socket.clone(),
            },
            expires,
        }
    }

    #[test]
    fn a_grant_covers_its_run_until_it_expires_or_is_revoked() {
        let mut g = SessionGrants::default();
        let mine = run("./tool", Some("bot"));
        let view = g.add(run_grant(&mine, 100), Vec::new(), "a1", 10);
        assert_eq!(view.expires_in, 90);
        assert_eq!(g.covering_run(&mine.facts(), 50), Some(view.id.clone()));
        assert_eq!(
            g.covering_run(&run("./other", Some("bot")).facts(), 50),
            None
        );
        assert_eq!(g.covering_run(&run("./tool", None).facts(), 50), None);
        // A profile's socket sees only its own; the human's sees all.
        assert_eq!(g.list(Some("bot"), 50).len(), 1);
        assert!(g.list(Some("other"), 50).is_empty());
        assert_eq!(g.list(None, 50).len(), 1);
        assert!(g.revoke(&view.id, 50).is_some());
        assert!(g.revoke(&view.id, 50).is_none());
        assert_eq!(g.covering_run(&mine.facts(), 50), None);
        // Expired: gone from the listing and covering nothing, and reported once.
        let second = g.add(run_grant(&mine, 100), Vec::new(), "a2", 10);
        assert_eq!(g.covering_run(&mine.facts(), 100), None);
        assert!(g.list(None, 100).is_empty());
        let expired = g.take_expired(100);
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].id, second.id);
        assert!(g.take_expired(100).is_empty());
    }

    #[test]
    fn a_profile_grant_covers_its_coordinates_on_its_socket_only() {
        let mut g = SessionGrants::default();
        g.add(
            Grant {
                kind: GrantKind::Profile {
                    profile: "bot".into(),
                    coordinates: BTreeSet::from(["secret:dev/api/key".to_string()]),
                },
                expires: 100,
            },
            Vec::new(),
            "a1",
            10,
        );
        assert!(
            g.covering_injection(Some("bot"), "secret:dev/api/key", 20)
                .is_some()
        );
        assert!(
            g.covering_injection(Some("bot"), "secret:dev/api/other", 20)
                .is_none()
        );
        assert!(
            g.covering_injection(None, "secret:dev/api/key", 20)
                .is_none()
        );
        assert!(
            g.covering_run(&run("./tool", Some("bot")).facts(), 20)
                .is_none()
        );
    }

    #[test]
    fn the_count_is_capped_by_ending_the_soonest_to_expire() {
        let mut g = SessionGrants::default();
        let first = run("./first", None);
        g.add(run_grant(&first, 20), Vec::new(), "a0", 10);
        for i in 1..=MAX_GRANTS {
            let r = run(&format!("./tool{i}"), None);
            g.add(run_grant(&r, 1000 + i as u64), Vec::new(), "a", 10);
        }
        assert_eq!(g.list(None, 11).len(), MAX_GRANTS);
        assert_eq!(g.covering_run(&first.facts(), 11), None);
        g.clear();
        assert!(g.list(None, 11).is_empty());
    }
}
