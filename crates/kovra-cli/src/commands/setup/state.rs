//! What `setup` wrote last, per project directory, so a second run can tell its own earlier
//! output (which it updates) from a hand edit (which it keeps, and says so). Kept in the
//! vault home as `setup-state.json`. It is not a security boundary: the agent profile in the
//! daemon is, and only the human changes it. A state file that cannot be read counts as
//! none (every differing value is then kept as a hand edit, never silently reverted).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    dirs: BTreeMap<String, DirState>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct DirState {
    /// Per file, the flat keys setup wrote in its `kovra` server entry (`command`, `args`,
    /// `env.NAME`).
    #[serde(default)]
    pub entries: BTreeMap<String, BTreeMap<String, Value>>,
    /// Per agent profile, the scope setup gave it (as JSON).
    #[serde(default)]
    pub profiles: BTreeMap<String, Value>,
}

fn path(home: &Path) -> PathBuf {
    home.join("setup-state.json")
}

impl State {
    pub fn load(home: &Path) -> State {
        std::fs::read_to_string(path(home))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    pub fn dir(&self, dir: &Path) -> DirState {
        self.dirs
            .get(&dir.display().to_string())
            .cloned()
            .unwrap_or_default()
    }

    /// Record `now` for `dir` and write the file (best effort: losing it only means the next
    /// run keeps differing values as hand edits).
    pub fn save(mut self, home: &Path, dir: &Path, now: DirState) {
        self.dirs.insert(dir.display().to_string(), now);
        if let Ok(text) = serde_json::to_string_pretty(&self) {
            let _ = std::fs::write(path(home), text + "\n");
        }
    }
}

/// What to do with one key.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Set(Value),
    Remove,
    Keep,
}

/// A three-way decision for one key: `theirs` is in the file now, `ours` is what setup would
/// write, `base` what it wrote last (`legacy`: what a setup without state wrote). Setup's
/// own earlier value is updated; anything else the user set is kept, with a note.
pub fn decide(
    theirs: Option<&Value>,
    ours: Option<&Value>,
    base: Option<&Value>,
    legacy: Option<&Value>,
) -> (Step, bool) {
    if theirs == ours {
        return (Step::Keep, false);
    }
    let setups_own = match (theirs, base) {
        (None, None) => true,
        (Some(t), Some(b)) => t == b,
        (Some(t), None) => legacy == Some(t),
        // Setup wrote it and the user removed it.
        (None, Some(_)) => false,
    };
    if !setups_own {
        return (Step::Keep, true);
    }
    match ours {
        Some(v) => (Step::Set(v.clone()), false),
        None => (Step::Remove, false),
    }
}

/// A value as a note shows it.
pub fn shown(v: Option<&Value>) -> String {
    match v {
        None => "(absent)".into(),
        Some(Value::String(s)) => format!("`{s}`"),
        Some(Value::Array(a)) => format!(
            "`{}`",
            a.iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Some(other) => format!("`{other}`"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn setups_own_value_is_updated_and_a_hand_edit_is_kept() {
        let (old, new, hand) = (json!("app"), json!("app,global"), json!("app,other"));
        // What setup wrote last, untouched: updated.
        assert_eq!(
            decide(Some(&old), Some(&new), Some(&old), None),
            (Step::Set(new.clone()), false)
        );
        // Edited by hand since: kept, and said.
        assert_eq!(
            decide(Some(&hand), Some(&new), Some(&old), None),
            (Step::Keep, true)
        );
        // No state, but what the previous setup always wrote: updated.
        assert_eq!(
            decide(Some(&old), Some(&new), None, Some(&old)),
            (Step::Set(new.clone()), false)
        );
        assert!(decide(Some(&hand), Some(&new), None, Some(&old)).1);
        // Removed by hand: stays removed.
        assert_eq!(
            decide(None, Some(&new), Some(&old), None),
            (Step::Keep, true)
        );
        // Absent and never written: added.
        assert_eq!(
            decide(None, Some(&new), None, None),
            (Step::Set(new.clone()), false)
        );
        // Setup no longer writes it, and it is setup's: removed.
        assert_eq!(
            decide(Some(&old), None, Some(&old), None),
            (Step::Remove, false)
        );
    }
}
