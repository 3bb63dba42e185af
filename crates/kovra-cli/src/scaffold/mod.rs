//! `kovra scaffold`: propose a `.env.refs` from the environment reads in a project's code.
//!
//! [`scan`] walks the tree as git sees it (ripgrep's `ignore` walker: `.gitignore`,
//! `.ignore`, git's excludes, also outside a git checkout), reads each file of a known kind
//! and keeps the *names* it reads (`extract.rs`, `yaml.rs`); `propose.rs` turns the names
//! into refs lines, mapping them to the vault's records where one has the name. Nothing here
//! talks to the daemon or reads a value: a `.env` file is skipped whole, and of a
//! `.env.example` only the keys are read.

mod classify;
mod extract;
mod propose;
mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub use extract::Lang;
pub use propose::{Known, Options, Proposal, counts, default_group, propose};

/// Files larger than this are generated or minified (bundles, lock files): not read.
const MAX_FILE: u64 = 2 * 1024 * 1024;

/// Directories never walked, ignored or not: git's own, and installed dependencies (whose
/// reads are the dependencies' configuration, not the project's).
const NEVER_WALKED: &[&str] = &[".git", "node_modules"];

/// Where a name was first read, and how often in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub name: String,
    /// Relative to the scanned root, `/`-separated.
    pub file: String,
    pub line: usize,
    pub lang: Lang,
    /// Some file says it is a secret (a workflow's `secrets.X`).
    pub marked_secret: bool,
    pub occurrences: usize,
}

/// What a walk found.
#[derive(Debug, Default)]
pub struct Scan {
    /// By name.
    pub found: Vec<Found>,
    /// Files read for names.
    pub files_read: usize,
    /// `.env`-style files passed over unread (relative paths).
    pub env_files_skipped: Vec<String>,
    /// System variables read somewhere, left out of the proposal.
    pub system: BTreeSet<String>,
}

/// What a file is to scaffold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Source(Lang),
    /// A `.env` holding values: never opened.
    EnvFile,
    Other,
}

/// Walk `root` and gather every environment read of a known kind.
pub fn scan(root: &Path) -> Scan {
    let mut by_name: BTreeMap<String, Found> = BTreeMap::new();
    let mut scan = Scan::default();
    let walker = ignore::WalkBuilder::new(root)
        // `.github/workflows` and `.env.example` are hidden files, and wanted.
        .hidden(false)
        // A project not (yet) in git still means its `.gitignore`.
        .require_git(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(|e| {
            !(e.file_type().is_some_and(|t| t.is_dir())
                && NEVER_WALKED.iter().any(|n| e.file_name() == *n))
        })
        .build();
    for entry in walker.flatten() {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        let rel = relative(root, path);
        let lang = match kind_of(Path::new(&rel)) {
            Kind::Other => continue,
            Kind::EnvFile => {
                scan.env_files_skipped.push(rel);
                continue;
            }
            Kind::Source(lang) => lang,
        };
        if entry.metadata().map_or(true, |m| m.len() > MAX_FILE) {
            continue;
        }
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        scan.files_read += 1;
        let text = String::from_utf8_lossy(&bytes);
        for hit in extract::extract(lang, &text) {
            if !extract::is_name(&hit.name) || reserved(&hit.name) {
                continue;
            }
            if classify::is_system(&hit.name) {
                scan.system.insert(hit.name);
                continue;
            }
            by_name
                .entry(hit.name.clone())
                .and_modify(|f| {
                    f.occurrences += 1;
                    f.marked_secret |= hit.secret;
                })
                .or_insert(Found {
                    name: hit.name,
                    file: rel.clone(),
                    line: hit.line,
                    lang,
                    marked_secret: hit.secret,
                    occurrences: 1,
                });
        }
    }
    // A `.env` git ignores was not walked: still said, so nobody wonders whether it was read.
    if root.join(".env").is_file() && !scan.env_files_skipped.iter().any(|f| f == ".env") {
        scan.env_files_skipped.insert(0, ".env".into());
    }
    scan.found = by_name.into_values().collect();
    scan
}

/// Names a refs file cannot define: its own keywords and kovra's variables.
fn reserved(name: &str) -> bool {
    name == "project" || name == "env" || name.starts_with("KOVRA_")
}

/// A path as the refs comments show it: relative, `/`-separated, one line whatever the file
/// is called (a name with a newline could otherwise write a line of its own into the file).
fn relative(root: &Path, path: &Path) -> String {
    let rel: PathBuf = path.strip_prefix(root).unwrap_or(path).to_path_buf();
    let joined = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    one_line(&joined)
}

/// Control characters shown as `?`.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A file's kind from its path alone.
fn kind_of(rel: &Path) -> Kind {
    let name = rel
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let ext = rel
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if let Some(kind) = env_file_kind(&name) {
        return kind;
    }
    let in_workflows = rel
        .parent()
        .is_some_and(|p| p.ends_with(".github/workflows"));
    if matches!(ext.as_str(), "yml" | "yaml") {
        if in_workflows {
            return Kind::Source(Lang::GithubActions);
        }
        let stem = name.trim_end_matches(".yml").trim_end_matches(".yaml");
        if stem.starts_with("docker-compose") || stem == "compose" || stem.starts_with("compose.") {
            return Kind::Source(Lang::DockerCompose);
        }
        return Kind::Other;
    }
    let lang = match ext.as_str() {
        "py" => Lang::Python,
        "js" | "mjs" | "cjs" | "jsx" | "ts" | "mts" | "cts" | "tsx" | "vue" | "svelte"
        | "astro" => Lang::Javascript,
        "rs" => Lang::Rust,
        "go" => Lang::Go,
        "rb" | "rake" | "ru" | "erb" => Lang::Ruby,
        "sh" | "bash" | "zsh" => Lang::Shell,
        _ if matches!(name.as_str(), "gemfile" | "rakefile") => Lang::Ruby,
        _ => return Kind::Other,
    };
    Kind::Source(lang)
}

/// `.env.example` and its kin are read for keys; `.env`, `.env.local`, `prod.env` hold
/// values and are never opened; `.env.refs` is what scaffold writes.
fn env_file_kind(name: &str) -> Option<Kind> {
    const EXAMPLES: &[&str] = &[".example", ".sample", ".template", ".dist", ".defaults"];
    let envish = name == ".env" || name.starts_with(".env.") || name.ends_with(".env");
    if !envish || name == ".env.refs" {
        return None;
    }
    if EXAMPLES.iter().any(|s| name.ends_with(s)) {
        return Some(Kind::Source(Lang::EnvExample));
    }
    Some(Kind::EnvFile)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_path() {
        let k = |p: &str| kind_of(Path::new(p));
        assert_eq!(k("app/main.py"), Kind::Source(Lang::Python));
        assert_eq!(k("web/src/App.tsx"), Kind::Source(Lang::Javascript));
        assert_eq!(k("src/main.rs"), Kind::Source(Lang::Rust));
        assert_eq!(k("cmd/server/main.go"), Kind::Source(Lang::Go));
        assert_eq!(k("Rakefile"), Kind::Source(Lang::Ruby));
        assert_eq!(k("bin/deploy.sh"), Kind::Source(Lang::Shell));
        assert_eq!(k("docker-compose.yml"), Kind::Source(Lang::DockerCompose));
        assert_eq!(
            k("docker-compose.prod.yaml"),
            Kind::Source(Lang::DockerCompose)
        );
        assert_eq!(k("compose.yaml"), Kind::Source(Lang::DockerCompose));
        assert_eq!(
            k(".github/workflows/ci.yml"),
            Kind::Source(Lang::GithubActions)
        );
        assert_eq!(k("config/settings.yml"), Kind::Other);
        assert_eq!(k(".env.example"), Kind::Source(Lang::EnvExample));
        assert_eq!(k(".env.local.sample"), Kind::Source(Lang::EnvExample));
        assert_eq!(k(".env"), Kind::EnvFile);
        assert_eq!(k("web/.env.production"), Kind::EnvFile);
        assert_eq!(k("prod.env"), Kind::EnvFile);
        assert_eq!(k(".env.refs"), Kind::Other);
        assert_eq!(k("README.md"), Kind::Other);
    }
}
