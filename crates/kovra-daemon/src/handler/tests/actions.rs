//! Every action the daemon writes into the trail is in the core's catalogue
//! (`kovra_core::audit::ACTIONS`), the list `kovra audit --action` accepts. Actions are
//! passed as literals to a handful of writers; this scans the daemon's sources for them, so
//! a new action written without a catalogue entry fails here rather than becoming a name no
//! query can ask for.

use std::path::{Path, PathBuf};

/// The calls whose first string literal is an action name.
/// Actions a file picks into a variable first, which the writer scan cannot follow.
const INDIRECT: &[(&str, &str)] = &[
    ("handler/egress.rs", "proxy-use"),
    ("handler/egress.rs", "canary-tripped"),
    ("handler/relocate.rs", "mv"),
    ("handler/relocate.rs", "rename"),
    ("handler/ssh_agent.rs", "ssh-agent-start"),
    ("handler/ssh_agent.rs", "ssh-agent-stop"),
];

const WRITERS: &[&str] = &[
    "entry(",
    "daemon_entry(",
    "admit(",
    "enforce(",
    "allowed(",
    "vault_gate(",
    "sharing_denied(",
    "challenge_reply(",
    "needs_proof(",
    "metadata_of(",
    "update_value(",
    "create(",
    "action: ",
    ".action = ",
    "VaultOperation::",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "tests") {
                sources(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs")
            && p.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(p);
        }
    }
}

/// The first string literal of the call (or line) that starts at `at`, if it is kebab-case.
fn first_literal(text: &str, at: usize) -> Option<&str> {
    let rest = &text[at..];
    let mut depth = 0i32;
    let mut end = rest.len();
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth <= 0 {
                    end = i;
                    break;
                }
            }
            ';' | '\n' if depth <= 0 => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    let span = &rest[..end];
    let open = span.find('"')? + 1;
    // A C string (`c"…"`) or byte string is an argument, never an action.
    if open >= 2 && span.as_bytes()[open - 2].is_ascii_alphanumeric() {
        return None;
    }
    let close = span[open..].find('"')? + open;
    let lit = &span[open..close];
    (!lit.is_empty()
        && lit
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
    .then_some(lit)
}

#[test]
fn every_action_the_daemon_writes_is_in_the_catalogue() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut found = std::collections::BTreeSet::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        // Inline unit tests write what they like.
        let text = text
            .split("#[cfg(test)]\nmod tests {")
            .next()
            .unwrap_or_default();
        for w in WRITERS {
            for (at, _) in text.match_indices(w) {
                if let Some(lit) = first_literal(text, at + w.len() - 1) {
                    found.insert(lit.to_string());
                }
            }
        }
    }
    // Actions chosen into a variable before the writer (`let action = if … { "rename" } else
    // { "mv" }`): the file must still spell them.
    for (file, action) in INDIRECT {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(&format!("\"{action}\"")),
            "{file} no longer writes `{action}`"
        );
        found.insert(action.to_string());
    }
    // Decisions share a line with some writers; they are not actions.
    for decision in ["allow", "needs-proof", "ok", "unaddressable", "error"] {
        found.remove(decision);
    }
    // The scan itself must see the trail's common actions, or it proves nothing.
    for known in [
        "reveal", "inject", "unlock", "add", "set", "lock", "approve",
    ] {
        assert!(
            found.contains(known),
            "the scan missed `{known}`: {found:?}"
        );
    }
    let unknown: Vec<_> = found
        .iter()
        .filter(|a| !kovra_core::audit::is_action(a))
        .collect();
    assert!(
        unknown.is_empty(),
        "actions written but missing from kovra_core::audit::ACTIONS: {unknown:?}"
    );
    let unused: Vec<_> = kovra_core::audit::ACTIONS
        .iter()
        .map(|(a, _)| *a)
        .filter(|a| !found.contains(*a))
        .collect();
    assert!(
        unused.is_empty(),
        "catalogue actions the daemon never writes: {unused:?}"
    );
}
