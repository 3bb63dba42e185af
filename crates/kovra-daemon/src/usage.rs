//! Where records are used: for each record a run injected, the `.env.refs` files that named
//! it (path and variable, never a value) and its last use, kept in memory since the daemon
//! started. The web UI's record detail shows it (`Request::Usage`, `docs/web.md`).
//!
//! Why in memory and not read back from the trail: the trail's `inject` entries name the
//! executable, not the refs file, and scanning a long trail per record detail would cost
//! what a lookup here does not. Capped, so a daemon that runs for months stays small.

use std::collections::HashMap;
use std::sync::Mutex;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use kovra_core::audit::AuditEntry;
use kovra_proto::UsageRef;

/// Records tracked at most; past it, records not yet seen are not added.
const MAX_RECORDS: usize = 10_000;
/// Refs files kept per record, the latest first.
const MAX_REFS: usize = 8;

#[derive(Default)]
struct Used {
    refs: Vec<UsageRef>,
    last_used: u64,
    last_by: String,
}

/// One use of a record, as a run resolved it.
pub struct Use {
    /// The vault's label and the record's unpinned coordinate: the key.
    pub vault: String,
    pub coordinate: String,
    /// The refs file's path (joined to the run's working directory).
    pub path: String,
    pub var: String,
    pub time: u64,
    /// `surface/origin` of the caller.
    pub by: String,
}

/// A run's uses: `used` pairs each injection's audit entry (its index in `audits`) with its
/// unpinned coordinate and variable. The trail stamps its entries as it appends them, so
/// the time is taken here.
pub fn of_run(
    refs_file: &Path,
    audits: &[AuditEntry],
    used: Vec<(usize, String, String)>,
) -> Vec<Use> {
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let path = refs_file.display().to_string();
    used.into_iter()
        .filter_map(|(i, coordinate, var)| {
            let a = audits.get(i)?;
            Some(Use {
                vault: a.vault.clone()?,
                coordinate,
                path: path.clone(),
                var,
                time,
                by: format!("{}/{}", a.surface, a.origin),
            })
        })
        .collect()
}

#[derive(Default)]
pub struct UsageIndex {
    records: Mutex<HashMap<(String, String), Used>>,
}

impl UsageIndex {
    pub fn record_all(&self, uses: Vec<Use>) {
        for u in uses {
            self.record(u);
        }
    }

    fn record(&self, u: Use) {
        let Ok(mut records) = self.records.lock() else {
            return;
        };
        let key = (u.vault, u.coordinate);
        if !records.contains_key(&key) && records.len() >= MAX_RECORDS {
            return;
        }
        let used = records.entry(key).or_default();
        used.refs.retain(|r| !(r.path == u.path && r.var == u.var));
        used.refs.insert(
            0,
            UsageRef {
                path: u.path,
                var: u.var,
                time: u.time,
            },
        );
        used.refs.truncate(MAX_REFS);
        if u.time >= used.last_used {
            used.last_used = u.time;
            used.last_by = u.by;
        }
    }

    /// The refs files, the last use and who made it, for one record.
    pub fn of(
        &self,
        vault: &str,
        coordinate: &str,
    ) -> (Vec<UsageRef>, Option<u64>, Option<String>) {
        let Ok(records) = self.records.lock() else {
            return (Vec::new(), None, None);
        };
        match records.get(&(vault.to_string(), coordinate.to_string())) {
            Some(u) => (u.refs.clone(), Some(u.last_used), Some(u.last_by.clone())),
            None => (Vec::new(), None, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(path: &str, var: &str, time: u64) -> Use {
        Use {
            vault: "global".into(),
            coordinate: "secret:dev/app/KEY".into(),
            path: path.into(),
            var: var.into(),
            time,
            by: "cli/human".into(),
        }
    }

    #[test]
    fn the_latest_use_comes_first_and_repeats_are_one_row() {
        let index = UsageIndex::default();
        index.record(at("/a/.env.refs", "KEY", 10));
        index.record(at("/b/.env.refs", "API_KEY", 20));
        index.record(at("/a/.env.refs", "KEY", 30));
        let (refs, last, by) = index.of("global", "secret:dev/app/KEY");
        assert_eq!(refs.len(), 2);
        assert_eq!((refs[0].path.as_str(), refs[0].time), ("/a/.env.refs", 30));
        assert_eq!(last, Some(30));
        assert_eq!(by.as_deref(), Some("cli/human"));
        assert_eq!(index.of("global", "secret:dev/app/OTHER").1, None);
    }

    #[test]
    fn each_record_keeps_a_bounded_list() {
        let index = UsageIndex::default();
        for i in 0..20 {
            index.record(at(&format!("/p{i}/.env.refs"), "KEY", i));
        }
        assert_eq!(index.of("global", "secret:dev/app/KEY").0.len(), MAX_REFS);
    }
}
