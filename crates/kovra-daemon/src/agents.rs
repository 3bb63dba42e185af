//! Agent profiles' sockets. Each profile gets its own socket, `AGENTS/NAME/daemon.sock`,
//! bound by this daemon; what arrives there is decided under that profile whatever the
//! client claims (`handler::agent`). The directory, not the socket, is what a sandbox
//! mounts, so a socket bound again after a daemon restart is seen inside at once.

use std::collections::{BTreeSet, HashMap};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use kovra_core::store::ensure_private_dir;

/// Starts serving a listener bound to a profile (the server's accept loop).
/// Its third argument turns true when the profile's socket is closed.
pub type Spawner = Box<dyn Fn(UnixListener, Arc<str>, Arc<AtomicBool>) + Send + Sync>;

/// Per-profile counters for `kovra status --agents` (this daemon's life only).
#[derive(Debug, Clone, Default)]
pub struct Activity {
    pub requests: u64,
    pub last_request: Option<u64>,
    pub sandboxes: u32,
}

/// The profiles' listeners.
pub struct AgentSockets {
    dir: PathBuf,
    spawn: OnceLock<Spawner>,
    open: Mutex<HashMap<String, Listening>>,
    activity: Mutex<HashMap<String, Activity>>,
}

struct Listening {
    /// A duplicate of the listener, to wake its accept loop with `shutdown` on close.
    listener: UnixListener,
    path: PathBuf,
    closed: Arc<AtomicBool>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AgentSockets {
    pub fn new(dir: PathBuf) -> Self {
        AgentSockets {
            dir,
            spawn: OnceLock::new(),
            open: Mutex::new(HashMap::new()),
            activity: Mutex::new(HashMap::new()),
        }
    }

    /// Set once by the server; profiles opened before it (none in practice) wait for it.
    pub fn set_spawner(&self, spawn: Spawner) {
        let _ = self.spawn.set(spawn);
    }

    pub fn socket_of(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("daemon.sock")
    }

    pub fn dir_of(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Profile names with a directory here: at start-up, while locked, their sockets are
    /// bound again so sandboxes that outlived a daemon reach the new one (which answers
    /// "locked" until the human unlocks, then serves only sealed profiles).
    pub fn on_disk(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| kovra_core::coord::validate_name(n).is_ok())
            .collect()
    }

    /// Bind `name`'s socket (again) and serve it. Idempotent.
    pub fn open(&self, name: &str) -> std::io::Result<PathBuf> {
        let mut open = lock(&self.open);
        if let Some(l) = open.get(name) {
            return Ok(l.path.clone());
        }
        let Some(spawn) = self.spawn.get() else {
            // A daemon driven in-process (its tests) serves no socket at all.
            return Ok(self.socket_of(name));
        };
        ensure_private_dir(&self.dir).map_err(std::io::Error::other)?;
        let dir = self.dir_of(name);
        ensure_private_dir(&dir).map_err(std::io::Error::other)?;
        let path = self.socket_of(name);
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let keep = listener.try_clone()?;
        let closed = Arc::new(AtomicBool::new(false));
        spawn(listener, Arc::from(name), Arc::clone(&closed));
        open.insert(
            name.to_string(),
            Listening {
                listener: keep,
                path: path.clone(),
                closed,
            },
        );
        Ok(path)
    }

    /// Stop serving `name` and remove its socket and directory (revoked or expired).
    pub fn close(&self, name: &str) {
        if let Some(l) = lock(&self.open).remove(name) {
            l.closed.store(true, Ordering::SeqCst);
            // Wakes the blocked accept, which then sees the profile closed and ends.
            let _ = nix::sys::socket::shutdown(
                l.listener.as_raw_fd(),
                nix::sys::socket::Shutdown::Both,
            );
            let _ = std::fs::remove_file(&l.path);
        }
        let dir = self.dir_of(name);
        let _ = std::fs::remove_file(dir.join("daemon.sock"));
        let _ = std::fs::remove_dir(&dir);
    }

    /// Serve exactly `names`: open the missing, close the rest.
    pub fn reconcile(&self, names: &BTreeSet<String>) {
        let current: Vec<String> = lock(&self.open).keys().cloned().collect();
        for n in current.iter().filter(|n| !names.contains(*n)) {
            self.close(n);
        }
        for n in self.on_disk().iter().filter(|n| !names.contains(*n)) {
            self.close(n);
        }
        for n in names {
            if let Err(e) = self.open(n) {
                tracing::warn!(agent = %n, error = %e, "cannot open the agent socket");
            }
        }
    }

    /// Whether this daemon serves `name`'s socket.
    pub fn is_open(&self, name: &str) -> bool {
        lock(&self.open).contains_key(name)
    }

    pub fn note_request(&self, name: &str, now: u64) {
        let mut a = lock(&self.activity);
        let entry = a.entry(name.to_string()).or_default();
        entry.requests += 1;
        entry.last_request = Some(now);
    }

    pub fn sandbox_started(&self, name: &str) {
        lock(&self.activity)
            .entry(name.to_string())
            .or_default()
            .sandboxes += 1;
    }

    pub fn sandbox_ended(&self, name: &str) {
        if let Some(a) = lock(&self.activity).get_mut(name) {
            a.sandboxes = a.sandboxes.saturating_sub(1);
        }
    }

    pub fn activity(&self, name: &str) -> Activity {
        lock(&self.activity).get(name).cloned().unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
