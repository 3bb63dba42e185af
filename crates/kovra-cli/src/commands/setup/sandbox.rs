//! What `kovra setup --sandbox` keeps from a sandboxed agent: the paths it may not read or
//! write, and the one way out to the network (kovra's proxy). The same rules go into Claude
//! Code's `sandbox` settings (`claude.rs`) and, with `--srt-settings FILE`, into a
//! standalone settings file for Anthropic's sandbox runtime `srt`, which Claude Code's
//! sandbox is built on: its `filesystem` and `network` objects are srt's.
//!
//! Globs: srt expands `denyRead` patterns on Linux and lifts a file an `allowRead` entry
//! names exactly (read in `@anthropic-ai/sandbox-runtime` 0.0.78,
//! `dist/sandbox/linux-sandbox-utils.js`), so the project's top-level `.env*` files are one
//! glob with `.env.refs` and `.env.example` read back. The `.env*` files that exist when
//! setup runs are listed too, deeper ones included: a `**` glob would make srt walk the whole
//! tree (node_modules included) before every command, and a listed file stays denied where
//! a glob is not expanded.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::files::Change;
use super::merge;
use crate::error::CliError;

/// What `--sandbox` was given.
pub struct SandboxPlan {
    /// The agent profile's egress proxy port; `None` in a dry run, where no profile is made
    /// (an existing port is then kept).
    pub port: Option<u16>,
    pub vault_home: PathBuf,
    /// What hides the daemon's socket: its directory when kovra chose the path, the socket
    /// itself when `KOVRA_SOCKET` did (its directory may be a shared one, such as /tmp).
    pub socket: PathBuf,
    pub srt_settings: Option<PathBuf>,
}

/// A path in a rule: absolute, or under a `$HOME` this process does not know.
#[derive(Clone, PartialEq)]
enum Place {
    Abs(PathBuf),
    Home(&'static str),
}

/// The rules both settings files get.
pub struct Rules {
    deny_read: Vec<Place>,
    allow_read: Vec<Place>,
    deny_write: Vec<Place>,
    project: PathBuf,
    home: Option<PathBuf>,
    pub port: Option<u16>,
}

/// Secrets of the user's own that no project command needs.
const HOME_SECRETS: &[&str] = &[".ssh", ".gnupg", ".aws"];
/// Example and wiring files: no values in them, and programs read them.
const ENV_READABLE: &[&str] = &[".env.refs", ".env.example"];
/// What steers the agent and its sandbox: a sandboxed command rewriting it would loosen the
/// next session.
const STEERING: &[&str] = &[
    ".mcp.json",
    ".claude/settings.json",
    ".claude/settings.local.json",
];
/// How deep the walk for nested `.env*` files goes, and what it skips.
const ENV_SCAN_DEPTH: usize = 4;
const ENV_SCAN_SKIP: &[&str] = &[".git", "node_modules", "target"];

impl Rules {
    pub fn collect(dir: &Path, plan: &SandboxPlan, home: Option<&Path>) -> Rules {
        let at = |rel: &'static str| match home {
            Some(h) => Place::Abs(h.join(rel)),
            None => Place::Home(rel),
        };
        let mut deny_read = vec![Place::Abs(plan.vault_home.clone())];
        deny_read.push(Place::Abs(plan.socket.clone()));
        deny_read.extend(HOME_SECRETS.iter().map(|rel| at(rel)));
        deny_read.push(Place::Abs(dir.join(".env*")));
        // A passphrase file for unattended unlocks is readable by anything of yours.
        if let Some(file) = std::env::var_os("KOVRA_PASSPHRASE_FILE").filter(|f| !f.is_empty())
            && let Ok(file) = std::path::absolute(file)
        {
            deny_read.push(Place::Abs(file));
        }
        let mut nested = Vec::new();
        scan_env_files(dir, 0, &mut nested);
        nested.sort();
        deny_read.extend(nested.into_iter().map(Place::Abs));
        let mut unique: Vec<Place> = Vec::new();
        for p in deny_read {
            if !unique.contains(&p) {
                unique.push(p);
            }
        }
        Rules {
            deny_read: unique,
            allow_read: ENV_READABLE
                .iter()
                .map(|f| Place::Abs(dir.join(f)))
                .collect(),
            deny_write: STEERING.iter().map(|f| Place::Abs(dir.join(f))).collect(),
            project: dir.to_path_buf(),
            home: home.map(Path::to_path_buf),
            port: plan.port,
        }
    }

    /// Claude Code's spelling: `~/…` under the home directory, `//…` for any other
    /// absolute path. A single leading `/` meant "relative to the settings file" in the
    /// sandbox settings of Claude Code's 2026 releases (anthropics/claude-code #32287,
    /// #33090), and `//` collapses to `/` where it does not.
    fn claude(&self, p: &Place) -> String {
        match p {
            Place::Home(rel) => format!("~/{rel}"),
            Place::Abs(abs) => match self.home.as_deref().map(|h| abs.strip_prefix(h)) {
                Some(Ok(rel)) if rel.as_os_str().is_empty() => "~".into(),
                Some(Ok(rel)) => format!("~/{}", rel.display()),
                _ => format!("/{}", abs.display()),
            },
        }
    }

    /// srt's spelling: the absolute path (srt expands `~` itself).
    fn srt(p: &Place) -> String {
        match p {
            Place::Home(rel) => format!("~/{rel}"),
            Place::Abs(abs) => abs.display().to_string(),
        }
    }

    pub fn claude_deny_read(&self) -> Vec<String> {
        self.deny_read.iter().map(|p| self.claude(p)).collect()
    }

    pub fn claude_allow_read(&self) -> Vec<String> {
        self.allow_read.iter().map(|p| self.claude(p)).collect()
    }

    pub fn claude_deny_write(&self) -> Vec<String> {
        self.deny_write.iter().map(|p| self.claude(p)).collect()
    }
}

/// `.env*` files, except the readable ones.
fn scan_env_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if depth > ENV_SCAN_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && !ENV_SCAN_SKIP.contains(&name.as_ref()) {
            scan_env_files(&entry.path(), depth + 1, out);
        } else if !kind.is_dir()
            && name.starts_with(".env")
            && !ENV_READABLE.contains(&name.as_ref())
        {
            out.push(entry.path());
        }
    }
}

/// Claude Code's `sandbox` block merged into its settings: on, failing closed, with no
/// unsandboxed retry, the rules added to what the user listed (never dropping an entry),
/// and the network only through the agent profile's proxy port.
pub fn merge_claude(doc: &mut Value, rules: &Rules, path: &Path) -> Result<(), CliError> {
    let sandbox = merge::object_in(merge::root(doc, path)?, "sandbox", path, "sandbox")?;
    sandbox.insert("enabled".into(), json!(true));
    sandbox.insert("failIfUnavailable".into(), json!(true));
    sandbox.insert("allowUnsandboxedCommands".into(), json!(false));
    let fs = merge::object_in(sandbox, "filesystem", path, "sandbox.filesystem")?;
    merge::union(
        fs,
        "denyRead",
        &rules.claude_deny_read(),
        path,
        "sandbox.filesystem.denyRead",
    )?;
    merge::union(
        fs,
        "allowRead",
        &rules.claude_allow_read(),
        path,
        "sandbox.filesystem.allowRead",
    )?;
    merge::union(
        fs,
        "denyWrite",
        &rules.claude_deny_write(),
        path,
        "sandbox.filesystem.denyWrite",
    )?;
    let network = merge::object_in(sandbox, "network", path, "sandbox.network")?;
    if let Some(port) = rules.port {
        network.insert("httpProxyPort".into(), json!(port));
    }
    Ok(())
}

/// A standalone srt settings file with the same rules. srt refuses a file without
/// `network.allowedDomains`, `network.deniedDomains`, `filesystem.allowWrite` and
/// `filesystem.denyWrite`, so each is there; the only writable place is the project.
pub fn srt_settings(path: PathBuf, rules: &Rules) -> Result<Change, CliError> {
    let (before, mut doc) = merge::read_json(&path)?;
    let all = |places: &[Place]| places.iter().map(Rules::srt).collect::<Vec<_>>();
    let root = merge::root(&mut doc, &path)?;
    let fs = merge::object_in(root, "filesystem", &path, "filesystem")?;
    merge::union(
        fs,
        "denyRead",
        &all(&rules.deny_read),
        &path,
        "filesystem.denyRead",
    )?;
    merge::union(
        fs,
        "allowRead",
        &all(&rules.allow_read),
        &path,
        "filesystem.allowRead",
    )?;
    merge::union(
        fs,
        "allowWrite",
        &[rules.project.display().to_string()],
        &path,
        "filesystem.allowWrite",
    )?;
    merge::union(
        fs,
        "denyWrite",
        &all(&rules.deny_write),
        &path,
        "filesystem.denyWrite",
    )?;
    let network = merge::object_in(root, "network", &path, "network")?;
    merge::union(
        network,
        "allowedDomains",
        &[],
        &path,
        "network.allowedDomains",
    )?;
    merge::union(
        network,
        "deniedDomains",
        &[],
        &path,
        "network.deniedDomains",
    )?;
    if let Some(port) = rules.port {
        network.insert("httpProxyPort".into(), json!(port));
    }
    merge::json_change(path, before, &doc)
}
