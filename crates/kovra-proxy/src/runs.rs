//! The live runs: their tokens, swaps and every placeholder the misuse scan knows.
//! Changes take effect at once; requests read a snapshot per request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{Egress, RunGrant, Swap};

/// One registered run.
pub(crate) struct Run {
    pub(crate) id: u64,
    /// SHA-256 of the token: every comparison is over 32 bytes, in constant time.
    token_digest: [u8; 32],
    pub(crate) egress: Egress,
    pub(crate) swaps: Vec<Swap>,
}

impl Run {
    /// The swaps whose value may go to `host`.
    pub(crate) fn swaps_for(&self, host: &str) -> Vec<usize> {
        (0..self.swaps.len())
            .filter(|&i| pins(&self.swaps[i], host))
            .collect()
    }

    pub(crate) fn pins(&self, host: &str) -> bool {
        self.swaps.iter().any(|s| pins(s, host))
    }
}

/// Whether `swap`'s value may go to `host`.
pub(crate) fn pins(swap: &Swap, host: &str) -> bool {
    swap.provider.allows_host(host)
        && swap
            .host
            .as_deref()
            .is_none_or(|h| h.eq_ignore_ascii_case(host))
}

/// A placeholder the scan looks for, and whose it is.
#[derive(Clone)]
pub(crate) struct Live {
    pub(crate) run: Arc<Run>,
    pub(crate) swap: usize,
}

impl Live {
    pub(crate) fn placeholder(&self) -> &str {
        self.swap().placeholder.as_str()
    }

    pub(crate) fn swap(&self) -> &Swap {
        &self.run.swaps[self.swap]
    }

    /// Whether this placeholder, in a request of run `run` to `host`, is where it belongs.
    pub(crate) fn at_home(&self, run: u64, host: &str) -> bool {
        self.run.id == run && pins(self.swap(), host)
    }
}

#[derive(Default)]
struct Table {
    runs: HashMap<u64, Arc<Run>>,
    live: Arc<Vec<Live>>,
}

#[derive(Default)]
pub(crate) struct Runs {
    table: RwLock<Table>,
}

fn digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

impl Runs {
    pub(crate) fn register(&self, grant: RunGrant) {
        let run = Arc::new(Run {
            id: grant.id,
            token_digest: digest(grant.token.as_bytes()),
            egress: grant.egress,
            swaps: grant.swaps,
        });
        let mut t = self.table.write().unwrap_or_else(|p| p.into_inner());
        t.runs.insert(run.id, run);
        t.live = Arc::new(index(&t.runs));
    }

    pub(crate) fn unregister(&self, id: u64) {
        let mut t = self.table.write().unwrap_or_else(|p| p.into_inner());
        t.runs.remove(&id);
        t.live = Arc::new(index(&t.runs));
    }

    /// The run whose token this is. Every run's digest is compared, so timing tells nothing
    /// about which (or whether one) matched.
    pub(crate) fn by_token(&self, token: &[u8]) -> Option<Arc<Run>> {
        let d = digest(token);
        let t = self.table.read().unwrap_or_else(|p| p.into_inner());
        let mut found = None;
        for run in t.runs.values() {
            if bool::from(run.token_digest.ct_eq(&d)) {
                found = Some(run.clone());
            }
        }
        found
    }

    pub(crate) fn by_id(&self, id: u64) -> Option<Arc<Run>> {
        let t = self.table.read().unwrap_or_else(|p| p.into_inner());
        t.runs.get(&id).cloned()
    }

    /// Every live placeholder, now.
    pub(crate) fn live(&self) -> Arc<Vec<Live>> {
        let t = self.table.read().unwrap_or_else(|p| p.into_inner());
        t.live.clone()
    }
}

fn index(runs: &HashMap<u64, Arc<Run>>) -> Vec<Live> {
    let mut out = Vec::new();
    for run in runs.values() {
        for (i, s) in run.swaps.iter().enumerate() {
            if !s.placeholder.is_empty() {
                out.push(Live {
                    run: run.clone(),
                    swap: i,
                });
            }
        }
    }
    out
}
