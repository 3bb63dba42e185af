//! Where a vault home, its socket and its files live. Part of the wire contract: a client
//! and the daemon must agree on the socket path for a home.

use std::path::{Path, PathBuf};

/// The locations of one vault home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub home: PathBuf,
    pub socket: PathBuf,
    /// False when `KOVRA_SOCKET` chose the path: its directory is then not ours to re-mode.
    pub socket_is_default: bool,
    /// `KOVRA_AGENT_SOCKET`: talk to this agent profile's socket instead (inside a sandbox).
    /// Requests there are decided under the profile whatever the client sends, and nothing
    /// typed is ever sent to it, so the client does not authenticate its peer.
    pub agent_socket: Option<PathBuf>,
    /// Where `config.toml` lives: `$XDG_CONFIG_HOME/kovra` (`~/.config/kovra`), or the home
    /// itself when `KOVRA_HOME` chose it (a throwaway home keeps all its files together).
    pub config_dir: PathBuf,
    /// Where `daemon.log` lives: `$XDG_STATE_HOME/kovra` (`~/.local/state/kovra`), or the
    /// home itself when `KOVRA_HOME` chose it.
    pub state_dir: PathBuf,
}

const CONFIG_FILE: &str = "config.toml";
const LOG_FILE: &str = "daemon.log";

#[derive(Debug, thiserror::Error)]
#[error("cannot find a home for the vault: set KOVRA_HOME, XDG_DATA_HOME or HOME")]
pub struct NoHome;

impl Paths {
    /// Resolve from the environment: `KOVRA_HOME` (default `$XDG_DATA_HOME/kovra`, then
    /// `~/.local/share/kovra`) and `KOVRA_SOCKET` (default in `$XDG_RUNTIME_DIR/kovra/`,
    /// then `$KOVRA_HOME/run/`).
    pub fn from_env() -> Result<Self, NoHome> {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let explicit = var("KOVRA_HOME");
        let chosen = explicit.is_some();
        let home = explicit
            .or_else(|| var("XDG_DATA_HOME").map(|d| d.join("kovra")))
            .or_else(|| var("HOME").map(|h| h.join(".local/share/kovra")))
            .ok_or(NoHome)?;
        let home = absolute(&home);
        // KOVRA_HOME set: everything under it. Otherwise each kind of file in its XDG place,
        // falling back to the home when not even HOME is set.
        let xdg = |var_name: &str, below_home: &str| {
            if chosen {
                return home.clone();
            }
            var(var_name)
                .or_else(|| var("HOME").map(|h| h.join(below_home)))
                .map_or_else(|| home.clone(), |d| absolute(&d.join("kovra")))
        };
        let config_dir = xdg("XDG_CONFIG_HOME", ".config");
        let state_dir = xdg("XDG_STATE_HOME", ".local/state");
        let (socket, socket_is_default) = match var("KOVRA_SOCKET") {
            Some(s) => (absolute(&s), false),
            None => (
                default_socket(&home, var("XDG_RUNTIME_DIR").as_deref()),
                true,
            ),
        };
        Ok(Paths {
            home,
            socket,
            socket_is_default,
            agent_socket: var("KOVRA_AGENT_SOCKET").map(|p| absolute(&p)),
            config_dir,
            state_dir,
        })
    }

    /// Every file of a home in the one directory `home` (tests, tools, `KOVRA_HOME`).
    pub fn under(home: PathBuf, socket: PathBuf) -> Self {
        Paths {
            config_dir: home.clone(),
            state_dir: home.clone(),
            home,
            socket,
            socket_is_default: false,
            agent_socket: None,
        }
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join(CONFIG_FILE)
    }

    pub fn log_file(&self) -> PathBuf {
        self.state_dir.join(LOG_FILE)
    }

    /// Where earlier versions kept `config.toml`: the data directory (the home).
    pub fn legacy_config_file(&self) -> PathBuf {
        self.home.join(CONFIG_FILE)
    }

    /// Where earlier versions kept `daemon.log`.
    pub fn legacy_log_file(&self) -> PathBuf {
        self.home.join(LOG_FILE)
    }

    /// Where the daemon keeps its agent profiles' sockets: `NAME/daemon.sock` under it.
    pub fn agents_dir(&self) -> PathBuf {
        self.socket.with_extension("agents")
    }

    /// The daemon's SSH agent socket (`kovra ssh-agent`), beside its own socket: in the same
    /// private directory, so no other user can swap it.
    pub fn ssh_agent_socket(&self) -> PathBuf {
        self.socket.with_extension("ssh-agent.sock")
    }

    /// Where the database proxy's unix socket lives (`.s.PGSQL.5432` in it, as libpq names
    /// it): a directory of its own beside the daemon's socket, 0700.
    pub fn db_proxy_dir(&self) -> PathBuf {
        self.socket.with_extension("pg")
    }

    /// The socket bound to agent profile `name`.
    pub fn agent_socket_of(&self, name: &str) -> PathBuf {
        self.agents_dir().join(name).join("daemon.sock")
    }

    pub fn lock_file(&self) -> PathBuf {
        self.home.join("daemon.lock")
    }

    /// Whether this home holds a vault file. Only for a surface's early word (`init` on a
    /// vault, `unlock` without one, an offline `status`) before any daemon is asked; the
    /// daemon, which opens the file, decides.
    pub fn has_vault(&self) -> bool {
        self.home.join(kovra_core::store::DB_FILE).exists()
    }

    /// The daemon's name in the abstract socket namespace (Linux). Unlike the path, a name
    /// the live daemon holds cannot be renamed, replaced or taken by another process, so
    /// clients dial it first; the path serves where the name cannot reach (another network
    /// namespace) and clients of older versions.
    pub fn abstract_name(&self) -> String {
        format!(
            "kovra/{}/{:016x}",
            effective_uid_text(),
            fnv1a(self.home.as_os_str().as_encoded_bytes())
        )
    }
}

/// The effective uid: names of different users never collide.
fn effective_uid_text() -> String {
    nix::unistd::geteuid().to_string()
}

/// FNV-1a: a stable, dependency-free name digest (not a security function).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// One daemon per home: under a shared runtime dir the socket name carries a short digest
/// of the home path, so two homes never share a socket.
fn default_socket(home: &Path, runtime: Option<&Path>) -> PathBuf {
    match runtime {
        Some(rt) => {
            let h = fnv1a(home.as_os_str().as_encoded_bytes());
            rt.join("kovra").join(format!("daemon-{h:016x}.sock"))
        }
        None => home.join("run").join("daemon.sock"),
    }
}
