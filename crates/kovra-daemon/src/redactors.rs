//! The redactors of recent runs, each built once per set of values and kept until the vault
//! locks.
//!
//! Building a redactor (every encoding of every value, the automaton, the pre-filter) was
//! most of the daemon's work for a short run, and a project runs with the same values again
//! and again. An entry is found by an HMAC-SHA256 of the run's `(name, value)` pairs, in
//! order, under a key drawn at random after every lock: the cache never holds a value or a
//! plain hash of one (which could be matched against a guess), and its keys mean nothing
//! once the vault locks. The MAC is compared in plain (not constant) time: it is keyed with
//! a secret the caller never learns, so timing tells it nothing about a value.
//!
//! The cache is emptied on every lock (`Daemon::lock_now`: requested, idle, shutdown, a
//! stopping daemon), which drops the redactors and so wipes their patterns (held in
//! `Zeroizing`). A run still going keeps its own reference until it ends, as it did when
//! each run built its own. A run whose plan was made before a lock (`Claim`) builds its own
//! redactor and leaves the cache empty, as does a build that a lock overtook.

use std::sync::{Arc, Mutex, MutexGuard};

use kovra_core::crypto::{self, KeyedMac};
use kovra_core::secret::SecretBytes;
use kovra_redact::Redactor;

/// Value sets kept at most; the least recently used goes first.
const CAPACITY: usize = 8;

type CacheKey = [u8; 32];

/// A run's way to its redactor (`Redactors::claim`).
pub struct Claim {
    cache: Arc<Redactors>,
    generation: u64,
}

impl Claim {
    /// The redactor for the run's `secrets` (`Redactors::get`).
    pub fn get(&self, secrets: &[(String, SecretBytes)]) -> Arc<Redactor> {
        self.cache.get(secrets, self.generation)
    }

    /// The cache this claim is on.
    pub fn cache(&self) -> &Arc<Redactors> {
        &self.cache
    }
}

/// The daemon's cache of built redactors.
#[derive(Default)]
pub struct Redactors {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Keyed at first use after a lock, with a fresh random key.
    mac: Option<KeyedMac>,
    /// Bumped by every `clear`, so a build that straddles a lock is not kept.
    generation: u64,
    tick: u64,
    entries: Vec<Entry>,
    /// How many redactors were built (hits do not count): what the tests observe.
    builds: u64,
}

struct Entry {
    key: CacheKey,
    redactor: Arc<Redactor>,
    used: u64,
}

impl State {
    fn key_of(&mut self, secrets: &[(String, SecretBytes)]) -> CacheKey {
        let mac = self
            .mac
            .get_or_insert_with(|| KeyedMac::new(&crypto::random_key()));
        let parts: Vec<&[u8]> = secrets
            .iter()
            .flat_map(|(name, value)| [name.as_bytes(), value.expose()])
            .collect();
        mac.mac(&parts)
    }
}

impl Redactors {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A run's claim on the cache, taken while the vault is unlocked (with the run's plan):
    /// a run that starts after a lock builds its own redactor and keeps it out of the cache.
    pub fn claim(self: &Arc<Self>) -> Claim {
        Claim {
            cache: Arc::clone(self),
            generation: self.state().generation,
        }
    }

    /// The redactor for `secrets`, for a claim taken in `generation`: the cached one, or a
    /// new one (built without holding the cache's lock) that is then kept, unless a lock
    /// came since the claim.
    fn get(&self, secrets: &[(String, SecretBytes)], claimed: u64) -> Arc<Redactor> {
        let build = || {
            Arc::new(Redactor::new(
                secrets.iter().map(|(n, v)| (n.as_str(), v.expose())),
            ))
        };
        if secrets.is_empty() {
            return build();
        }
        let (key, generation) = {
            let mut s = self.state();
            if s.generation != claimed {
                s.builds += 1;
                drop(s);
                return build();
            }
            let key = s.key_of(secrets);
            s.tick += 1;
            let tick = s.tick;
            if let Some(e) = s.entries.iter_mut().find(|e| e.key == key) {
                e.used = tick;
                return Arc::clone(&e.redactor);
            }
            s.builds += 1;
            (key, s.generation)
        };
        let built = build();
        let mut s = self.state();
        if s.generation == generation && !s.entries.iter().any(|e| e.key == key) {
            if s.entries.len() >= CAPACITY
                && let Some(oldest) = (0..s.entries.len()).min_by_key(|&i| s.entries[i].used)
            {
                s.entries.swap_remove(oldest);
            }
            let used = s.tick;
            s.entries.push(Entry {
                key,
                redactor: Arc::clone(&built),
                used,
            });
        }
        built
    }

    /// Forget every redactor (dropping the last reference wipes its patterns) and the key.
    pub fn clear(&self) {
        let mut s = self.state();
        s.entries.clear();
        s.mac = None;
        s.generation += 1;
    }

    /// How many redactors this cache built (a hit builds none).
    pub fn builds(&self) -> u64 {
        self.state().builds
    }

    /// How many value sets are kept now.
    pub fn len(&self) -> usize {
        self.state().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(tag: &str) -> Vec<(String, SecretBytes)> {
        vec![(
            "DB".to_string(),
            SecretBytes::from_slice(format!("value-{tag}-long-enough").as_bytes()),
        )]
    }

    #[test]
    fn one_build_per_value_set_and_a_clear_forgets_them() {
        let cache = Arc::new(Redactors::default());
        let a = cache.claim().get(&set("a"));
        assert!(Arc::ptr_eq(&a, &cache.claim().get(&set("a"))));
        assert!(!Arc::ptr_eq(&a, &cache.claim().get(&set("b"))));
        assert_eq!(cache.builds(), 2);
        let weak = Arc::downgrade(&a);
        drop(a);
        assert!(weak.upgrade().is_some(), "kept while unlocked");
        cache.clear();
        assert!(cache.is_empty());
        assert!(weak.upgrade().is_none(), "dropped on clear");
        cache.claim().get(&set("a"));
        assert_eq!(cache.builds(), 3, "rebuilt after a clear");
    }

    #[test]
    fn a_run_claimed_before_a_lock_keeps_its_redactor_out_of_the_cache() {
        let cache = Arc::new(Redactors::default());
        let claim = cache.claim();
        cache.clear();
        claim.get(&set("a"));
        assert!(cache.is_empty());
        assert_eq!(cache.builds(), 1);
    }

    #[test]
    fn the_cache_is_bounded_and_drops_the_least_recently_used() {
        let cache = Arc::new(Redactors::default());
        let first = Arc::downgrade(&cache.claim().get(&set("0")));
        let kept = Arc::downgrade(&cache.claim().get(&set("1")));
        for i in 2..=CAPACITY {
            cache.claim().get(&set(&i.to_string()));
            cache.claim().get(&set("1"));
        }
        assert_eq!(cache.len(), CAPACITY);
        assert!(first.upgrade().is_none(), "the least recently used went");
        assert!(kept.upgrade().is_some());
    }

    #[test]
    fn names_are_part_of_the_key() {
        let cache = Arc::new(Redactors::default());
        let value = SecretBytes::from_slice(b"same-value-long-enough");
        let a = cache.claim().get(&[("A".to_string(), value.clone())]);
        let b = cache.claim().get(&[("B".to_string(), value)]);
        assert!(!Arc::ptr_eq(&a, &b));
    }
}
