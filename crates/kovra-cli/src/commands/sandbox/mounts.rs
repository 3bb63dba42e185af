//! What the sandbox shows and hides, as bubblewrap arguments. Order matters: bubblewrap
//! applies mounts in order, so the project is bound before anything inside it is hidden,
//! and the profile's socket, the trust bundle and kovra itself are bound last.

use std::path::{Path, PathBuf};

use kovra_proto::{ErrorCode, SandboxGrant};

use crate::error::CliError;

/// Where the profile's socket directory appears inside.
pub const AGENT_DIR: &str = "/run/kovra-agent";
/// Where kovra itself appears inside (first on `PATH`).
pub const BIN_DIR: &str = "/run/kovra-sandbox";

/// Variables never passed in: they name the human's sockets and passphrase.
pub const UNSET: [&str; 5] = [
    "KOVRA_SOCKET",
    "KOVRA_PASSPHRASE_FILE",
    "SSH_AUTH_SOCK",
    "GPG_AGENT_INFO",
    "DBUS_SESSION_BUS_ADDRESS",
];

/// Under the home directory: credentials every sandbox hides.
const HOME_SECRETS: [&str; 8] = [
    ".ssh",
    ".gnupg",
    ".aws",
    ".kube",
    ".docker",
    ".netrc",
    ".config/gcloud",
    ".password-store",
];

/// Files in the project that configure what runs outside the sandbox later (MCP servers and
/// their scope, client settings, commands and subagents, editor tasks and run
/// configurations, git hooks and `core.fsmonitor`): read-only inside, so the agent cannot
/// loosen its next session or plant code you would run. (Anthropic's sandbox runtime
/// protects the same kinds of paths.)
const PROJECT_READ_ONLY: [&str; 14] = [
    ".mcp.json",
    // direnv runs it when you enter the directory.
    ".envrc",
    ".claude/settings.json",
    ".claude/settings.local.json",
    ".claude/commands",
    ".claude/agents",
    ".cursor/mcp.json",
    ".codex/config.toml",
    ".gemini/settings.json",
    // VS Code runs a `tasks.json` task on folder open; MCP servers, settings.
    ".vscode",
    // IntelliJ's run configurations and startup tasks.
    ".idea",
    ".git/config",
    ".git/hooks",
    ".gitmodules",
];

/// Besides those: `.git/commondir` points git at another directory's config and hooks.
const ALSO_GUARDED_IF_ABSENT: [&str; 1] = [".git/commondir"];

/// The guarded project paths that do not exist now. No mount can cover a path that does not
/// exist without creating it in the real project, so these are checked when the sandbox ends
/// instead ([`super::quarantine`]).
pub fn absent_guarded(project: &Path) -> Vec<PathBuf> {
    PROJECT_READ_ONLY
        .iter()
        .chain(ALSO_GUARDED_IF_ABSENT.iter())
        .map(|f| project.join(f))
        .filter(|p| std::fs::symlink_metadata(p).is_err())
        .collect()
}

/// `.env*` files that hold no values by convention, left visible.
const ENV_FILES_KEPT: [&str; 5] = [
    ".env.refs",
    ".env.example",
    ".env.sample",
    ".env.template",
    ".envrc.example",
];

/// Directories the search for `.env*` files does not enter.
const SKIPPED_DIRS: [&str; 7] = [
    ".git",
    "node_modules",
    "target",
    ".venv",
    "venv",
    "__pycache__",
    ".cache",
];
const ENV_SEARCH_DEPTH: usize = 4;

pub fn find_bwrap() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("bwrap"))
        .find(|p| p.is_file())
}

pub struct Plan {
    project: PathBuf,
    hidden_dirs: Vec<PathBuf>,
    hidden_files: Vec<PathBuf>,
    read_only: Vec<PathBuf>,
    socket_dir: PathBuf,
    /// Paths bound writable besides the project (`--writable`).
    writable: Vec<PathBuf>,
    /// Project files bound read-only over themselves.
    frozen: Vec<PathBuf>,
    /// Their directories inside the project, bound (writable) over themselves first: a mount
    /// point cannot be renamed, so the agent cannot move one aside and put a copy of its own,
    /// without the read-only files, in its place.
    pinned_dirs: Vec<PathBuf>,
    exe: PathBuf,
    grant_env: Vec<(String, String)>,
    agent: String,
    inner: Vec<String>,
}

impl Plan {
    pub fn new(
        grant: &SandboxGrant,
        cwd: &Path,
        extra: &[PathBuf],
        writable: &[PathBuf],
        command: &[String],
    ) -> Result<Plan, CliError> {
        let exe = std::fs::canonicalize("/proc/self/exe").map_err(|e| {
            CliError::new(
                ErrorCode::SandboxUnavailable,
                format!("cannot find kovra's own executable: {e}"),
                None,
            )
        })?;
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let mut hide: Vec<PathBuf> = grant.hidden.iter().map(PathBuf::from).collect();
        if let Some(h) = &home {
            hide.extend(HOME_SECRETS.iter().map(|s| h.join(s)));
        }
        hide.extend(extra.iter().map(|p| absolute(cwd, p)));
        // The file the human unlocks from unattended: `UNSET` keeps its name out, and this its
        // content (it opens the vault to anyone who later gets a copy of the database).
        if let Some(p) = std::env::var_os("KOVRA_PASSPHRASE_FILE").filter(|p| !p.is_empty()) {
            hide.push(absolute(cwd, Path::new(&p)));
        }
        // Every path bubblewrap mounts over is given resolved: it would resolve an absolute
        // symlink in a destination outside the new root and refuse to start, and what must
        // be hidden is what a link points to. A link to nothing hides nothing.
        let (mut hidden_dirs, mut hidden_files) = (Vec::new(), Vec::new());
        for p in hide.iter().filter_map(|p| real(p)) {
            if p.is_dir() {
                hidden_dirs.push(p);
            } else {
                hidden_files.push(p);
            }
        }
        env_files(cwd, 0, &mut hidden_files);
        let mut frozen: Vec<PathBuf> = PROJECT_READ_ONLY
            .iter()
            .filter_map(|f| real(&cwd.join(f)))
            .collect();
        // A worktree's (or submodule's) `.git` is a file naming the git directory, and so
        // the config and hooks git uses there.
        frozen.extend(git_files(cwd, 0));
        let mut pinned_dirs: Vec<PathBuf> = Vec::new();
        for f in &frozen {
            let mut dir = f.parent();
            while let Some(d) = dir.filter(|d| d.starts_with(cwd) && *d != cwd) {
                if !pinned_dirs.iter().any(|p| p == d) && !frozen.iter().any(|p| p == d) {
                    pinned_dirs.push(d.to_path_buf());
                }
                dir = d.parent();
            }
        }
        // Outer directories first: a mount over a directory hides mounts made inside it before.
        pinned_dirs.sort_by_key(|d| d.components().count());
        let writable: Vec<PathBuf> = writable
            .iter()
            .filter_map(|p| real(&absolute(cwd, p)))
            .collect();
        if let Some(home) = home.as_deref() {
            for place in std::iter::once(cwd).chain(writable.iter().map(PathBuf::as_path)) {
                holds_no_home(place, home)?;
            }
        }
        let port = grant.proxy_port.to_string();
        let mut inner = vec![
            format!("{BIN_DIR}/kovra"),
            "sandbox-init".into(),
            "--egress-socket".into(),
            format!("{AGENT_DIR}/{}", grant.egress_socket),
            "--port".into(),
            port,
            "--".into(),
        ];
        inner.extend(command.iter().cloned());
        Ok(Plan {
            project: cwd.to_path_buf(),
            hidden_dirs,
            hidden_files,
            read_only: grant.read_only.iter().map(PathBuf::from).collect(),
            socket_dir: PathBuf::from(&grant.socket_dir),
            writable,
            frozen,
            pinned_dirs,
            exe,
            grant_env: grant.env.clone(),
            agent: grant.agent.clone(),
            inner,
        })
    }

    pub fn bwrap_args(&self) -> Vec<String> {
        let mut a: Vec<String> = [
            "--unshare-user",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--die-with-parent",
            // No controlling terminal: TIOCSTI cannot push keystrokes into the human's shell.
            "--new-session",
            "--cap-drop",
            "ALL",
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--tmpfs",
            "/tmp",
            "--tmpfs",
            "/run",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut pair = |flag: &str, from: &Path, to: &Path| {
            a.push(flag.into());
            a.push(from.display().to_string());
            a.push(to.display().to_string());
        };
        pair("--bind", &self.project, &self.project);
        for w in &self.writable {
            pair("--bind", w, w);
        }
        for d in &self.pinned_dirs {
            pair("--bind", d, d);
        }
        for f in &self.frozen {
            pair("--ro-bind", f, f);
        }
        let mut a2 = Vec::new();
        for d in &self.hidden_dirs {
            a2.push("--tmpfs".to_string());
            a2.push(d.display().to_string());
        }
        a.extend(a2);
        let mut pair = |flag: &str, from: &Path, to: &Path| {
            a.push(flag.into());
            a.push(from.display().to_string());
            a.push(to.display().to_string());
        };
        for f in &self.hidden_files {
            pair("--ro-bind", Path::new("/dev/null"), f);
        }
        for f in self.read_only.iter().filter(|f| f.exists()) {
            pair("--ro-bind", f, f);
        }
        // Read-only: connecting to a socket needs no write access to its mount, and the
        // directory is shared with the profile's other sandboxes (their egress sockets) and
        // MCP servers, whose sockets an agent could otherwise move aside and stand in for.
        pair("--ro-bind", &self.socket_dir, Path::new(AGENT_DIR));
        pair("--ro-bind", &self.exe, &Path::new(BIN_DIR).join("kovra"));
        a.push("--chdir".into());
        a.push(self.project.display().to_string());
        a.push("--".into());
        a.extend(self.inner.iter().cloned());
        a
    }

    /// Variables for the command inside (bubblewrap passes its environment on).
    pub fn env(&self) -> Vec<(String, String)> {
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
        let mut env = vec![
            (
                "KOVRA_AGENT_SOCKET".into(),
                format!("{AGENT_DIR}/daemon.sock"),
            ),
            ("KOVRA_SANDBOX".into(), self.agent.clone()),
            ("PATH".into(), format!("{BIN_DIR}:{path}")),
        ];
        env.extend(self.grant_env.iter().cloned());
        env
    }
}

/// The home directory, or a directory above it, bound writable would let the agent rewrite
/// the human's shell start-up files (`~/.bashrc`, `~/.profile`), user services and the like,
/// which run as the human later, outside the sandbox.
fn holds_no_home(place: &Path, home: &Path) -> Result<(), CliError> {
    let resolve = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (place, home) = (resolve(place), resolve(home));
    if home.starts_with(&place) {
        return Err(CliError::new(
            ErrorCode::CwdInvalid,
            format!(
                "{} holds your home directory: a sandbox would make your shell start-up files writable",
                place.display()
            ),
            Some(
                "start the sandbox in the project's own directory; `--writable` the few paths the agent needs (e.g. `~/.claude`)",
            ),
        ));
    }
    Ok(())
}

/// `p` with every symlink resolved; `None` when it names nothing.
fn real(p: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(p).ok()
}

fn absolute(cwd: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    }
}

/// `.git` entries that are files (a worktree's, a submodule's checkout), a few levels down.
fn git_files(dir: &Path, depth: usize) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.filter_map(Result::ok) {
        let Ok(kind) = e.file_type() else { continue };
        let name = e.file_name();
        if kind.is_file() && name == ".git" {
            out.push(e.path());
        } else if kind.is_dir()
            && depth < ENV_SEARCH_DEPTH
            && !SKIPPED_DIRS.contains(&name.to_str().unwrap_or(".git"))
        {
            out.extend(git_files(&e.path(), depth + 1));
        }
    }
    out
}

/// The project's `.env*` files (values, by convention), except those that hold none.
fn env_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_dir() {
            if depth < ENV_SEARCH_DEPTH && !SKIPPED_DIRS.contains(&name) {
                env_files(&e.path(), depth + 1, out);
            }
        } else if name.starts_with(".env") && !ENV_FILES_KEPT.contains(&name) {
            // A symlink: what it points to, if that is a file (a link to a directory is
            // treated as the directory would be, a link to nothing hides nothing).
            if let Some(target) = real(&e.path()).filter(|t| !t.is_dir()) {
                out.push(target);
            }
        }
    }
}
