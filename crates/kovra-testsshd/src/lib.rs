//! A throwaway OpenSSH server for tests: Debian's `sshd`, started as whoever runs the test on
//! a free loopback port, with its own host key and `authorized_keys` in a temporary directory,
//! and killed when dropped. The agent crate's protocol tests and the CLI's `kovra ssh-agent`
//! tests log in to it the same way, so it is one piece of test code rather than two.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Sshd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    host_public: String,
    host_fingerprint: String,
}

impl Sshd {
    /// A server accepting the OpenSSH public key lines in `authorized` (may be empty: see
    /// [`authorize`](Self::authorize)), with a host key of `host_type` (an `ssh-keygen -t`
    /// argument: `ed25519`, `rsa`, `ecdsa`).
    pub fn start(authorized: &str, host_type: &str) -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        let host = d.join("host_key");
        let (host_public, host_fingerprint) = host_key(&host, host_type);
        std::fs::write(d.join("authorized_keys"), format!("{authorized}\n")).unwrap();
        // A free port is picked by binding port 0 and letting it go: another test may take it
        // before sshd binds it, so a server that finds it in use is started again elsewhere.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let config = d.join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {pid}\n\
                     AuthorizedKeysFile {keys}\nUsePAM no\nPasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\nStrictModes no\n",
                    host = host.display(),
                    pid = d.join("sshd.pid").display(),
                    keys = d.join("authorized_keys").display(),
                ),
            )
            .unwrap();
            let mut child = spawn(&config, &d);
            match listening(&mut child, port, &d, 0) {
                Ok(()) => {
                    return Sshd {
                        child,
                        port,
                        dir,
                        host_public,
                        host_fingerprint,
                    };
                }
                Err(log) if log.contains("Address already in use") => {
                    let _ = child.wait();
                    let _ = std::fs::remove_file(d.join("sshd.log"));
                }
                Err(log) => panic!("sshd did not start: {log}"),
            }
        }
        panic!("sshd found five free ports taken before it could bind them")
    }

    /// Stop, give the server a new host key of `host_type`, and serve again on the same port:
    /// the same address now presents another key.
    pub fn replace_host_key(&mut self, host_type: &str) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let d = self.dir.path().to_path_buf();
        let host = d.join("host_key");
        let _ = std::fs::remove_file(&host);
        let _ = std::fs::remove_file(d.join("host_key.pub"));
        (self.host_public, self.host_fingerprint) = host_key(&host, host_type);
        // The log goes on (tests count its logins across the change): this start's lines
        // are those after what it already holds.
        let before = self.log().len();
        self.child = spawn(&d.join("sshd_config"), &d);
        if let Err(log) = listening(&mut self.child, self.port, &d, before) {
            panic!("sshd did not start again: {log}");
        }
    }

    /// Accept exactly these public key lines from now on.
    pub fn authorize(&self, authorized: &str) {
        std::fs::write(
            self.dir.path().join("authorized_keys"),
            format!("{authorized}\n"),
        )
        .unwrap();
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host key's OpenSSH public line.
    pub fn host_public(&self) -> &str {
        &self.host_public
    }

    /// The host key's `SHA256:…` fingerprint, as `ssh-keygen -l` prints it.
    pub fn host_fingerprint(&self) -> &str {
        &self.host_fingerprint
    }

    /// What sshd wrote (`-e`), for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// `ssh` to this server as the current user through the agent at `agent`, offering only
    /// the key whose public half is in `identity`, knowing only this server's host key;
    /// `options` go before the destination, `command` runs there.
    pub fn ssh(&self, agent: &Path, identity: &Path, options: &[&str], command: &str) -> Command {
        let known = self.known_hosts();
        let mut c = Command::new("ssh");
        c.args(["-F", "none", "-p", &self.port.to_string()])
            .arg("-o")
            .arg(format!("IdentityAgent={}", agent.display()))
            .args(["-o", "IdentitiesOnly=yes", "-i"])
            .arg(identity)
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", known.display()))
            .args([
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                "-l",
                &user(),
            ])
            .args(options)
            .args(["127.0.0.1", command])
            .env_remove("SSH_AUTH_SOCK")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    fn known_hosts(&self) -> PathBuf {
        let known = self.dir.path().join("known_hosts");
        std::fs::write(
            &known,
            format!("[127.0.0.1]:{} {}\n", self.port, self.host_public),
        )
        .unwrap();
        known
    }
}

/// Waits until sshd, logging to `dir/sshd.log`, says past byte `from` of its log that it
/// listens on `port` (a connect alone could reach another process that took the port); its
/// log if it exited first.
fn listening(child: &mut Child, port: u16, dir: &Path, from: usize) -> Result<(), String> {
    let said = format!("Server listening on 127.0.0.1 port {port}");
    let log = || std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = log();
        let new = text.get(from..).unwrap_or_default();
        if new.contains(&said) && TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if child.try_wait().unwrap().is_some() {
            return Err(log());
        }
        if Instant::now() > deadline {
            panic!("sshd did not start within 20 s: {text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Make a host key at `path`; its public line and `SHA256:…` fingerprint.
fn host_key(path: &Path, host_type: &str) -> (String, String) {
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", host_type, "-N", "", "-C", "host", "-f"])
        .arg(path)
        .output()
        .unwrap();
    assert!(made.status.success(), "ssh-keygen -t {host_type}");
    let public = path.with_extension("pub");
    let host_public = std::fs::read_to_string(&public)
        .unwrap()
        .trim_end()
        .to_string();
    let listed = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&public)
        .output()
        .unwrap();
    let host_fingerprint = String::from_utf8_lossy(&listed.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    (host_public, host_fingerprint)
}

/// Start sshd on `config`, logging to `dir/sshd.log`.
fn spawn(config: &Path, dir: &Path) -> Child {
    // As root, sshd insists on its privilege-separation directory, which the package
    // leaves to systemd to create; a user's sshd does not use it.
    let euid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap());
    if euid == 0 {
        std::fs::create_dir_all("/run/sshd").unwrap();
    }
    // sshd re-executes itself, so it must be named by absolute path.
    let sshd = ["/usr/sbin/sshd", "/usr/bin/sshd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("sshd (apt-get install openssh-server)");
    Command::new(sshd)
        .args(["-D", "-e", "-f"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("sshd.log"))
                .unwrap(),
        )
        .spawn()
        .unwrap()
}

/// The current user's name, as `ssh -l` takes it.
fn user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
