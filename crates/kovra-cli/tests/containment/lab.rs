//! One vault wired for the containment tests: a daemon talking to a loopback HTTPS upstream
//! (it trusts the test CA and resolves every provider host there), two project vaults and
//! the global one holding canary records, a project directory with a `.env` file and a
//! `.env.refs`, a user home with a key in `~/.ssh`, and the agent profile `bot`.
//!
//! The home lives under /var/tmp, not /tmp: every sandbox hides all of /tmp behind a tmpfs,
//! which would hide the vault home whatever kovra asked for. Under /var/tmp, only what kovra
//! itself hides is hidden (a real vault home sits under `~`, which sandboxes show read-only).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::harness::*;
use crate::leak::*;
use crate::upstream::*;

/// The project the agent profile addresses, and one it does not.
pub const WEB: &str = "web";
pub const BILLING: &str = "billing";
/// The agent profile: metadata and inject, project `web`, environment `dev`, pinned hosts only.
pub const AGENT: &str = "bot";

/// In `web`: medium and not revealable (the default).
pub const TOKEN: &str = "secret:dev/app/token";
/// In `web`: low and revealable (an agent scope with `reveal` could read it).
pub const NOTES: &str = "secret:dev/app/notes";
/// In `web`: an environment outside the profile.
pub const STAGING: &str = "secret:staging/app/token";
/// In `web`: pinned to the openai provider by its name.
pub const OPENAI: &str = "secret:dev/openai/openai_api_key";
/// In `billing` (a project outside the profile) the same coordinate as `TOKEN`; in the global
/// vault (outside too) this one.
pub const GLOBAL_TOKEN: &str = "secret:dev/app/global_token";

/// The project's `.env.refs`: one pinned record, so a placeholder.
pub const REFS: &str = "project = web\nOPENAI_API_KEY=secret:dev/openai/openai_api_key\n";

/// A shell function for scripts run inside a sandbox: `step NAME CMD...` runs CMD and prints
/// `== NAME rc=N`, then everything CMD printed (both streams). [`steps`] reads it back. No
/// temporary file: a sandbox may have no writable /tmp, and a failure to write one must not
/// pass for the command's own failure.
pub const STEP: &str = "step() { n=$1; shift; o=$(\"$@\" 2>&1); rc=$?; \
     echo \"== $n rc=$rc\"; printf '%s\\n' \"$o\"; }\n";

/// The canary values planted, by label.
pub struct Canaries {
    pub token: String,
    pub notes: String,
    pub staging: String,
    pub outside: String,
    pub global: String,
    pub key: String,
    pub env_file: String,
    pub env_local: String,
    pub ssh: String,
    pub daemon_env: String,
}

impl Canaries {
    fn new(tag: &str) -> Canaries {
        Canaries {
            token: canary(&format!("{tag}-token")),
            notes: canary(&format!("{tag}-notes")),
            staging: canary(&format!("{tag}-staging")),
            outside: canary(&format!("{tag}-billing")),
            global: canary(&format!("{tag}-global")),
            key: token_canary(&format!("{tag}-openai")),
            env_file: canary(&format!("{tag}-dotenv")),
            env_local: canary(&format!("{tag}-dotenv-local")),
            ssh: canary(&format!("{tag}-ssh")),
            daemon_env: canary(&format!("{tag}-daemon-env")),
        }
    }

    /// Every canary with its label.
    pub fn all(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("web dev/app/token", &self.token),
            ("web dev/app/notes", &self.notes),
            ("web staging/app/token", &self.staging),
            ("billing dev/app/token", &self.outside),
            ("global dev/app/global_token", &self.global),
            ("web dev/openai/openai_api_key", &self.key),
            ("the project's .env", &self.env_file),
            ("the project's sub/.env.local", &self.env_local),
            ("~/.ssh/id_ed25519", &self.ssh),
            ("the daemon's environment", &self.daemon_env),
        ]
    }
}

pub struct Lab {
    pub up: Upstream,
    vars: Vec<(String, String)>,
    pub h: Home,
    /// The project directory (the sandbox's working directory).
    pub project: PathBuf,
    /// `HOME` for every command of the lab.
    pub user_home: PathBuf,
    pub c: Canaries,
}

impl Lab {
    /// A fresh vault and daemon wired to a fresh upstream, with every canary planted and
    /// the profile `bot` made.
    pub fn new(tag: &str) -> Lab {
        let h = Home::new_in(Path::new("/var/tmp"));
        let pki = make_pki(&h.root.join("pki"), "t");
        let up = Upstream::start("127.0.0.1", &pki, h.root.join("upstream.jsonl"), None);
        let vars = vec![
            (
                "KOVRA_BROKER_TEST_UPSTREAM".to_string(),
                format!("127.0.0.1:{}", up.port),
            ),
            (
                "KOVRA_BROKER_TEST_CA".to_string(),
                pki.ca.display().to_string(),
            ),
        ];
        let c = Canaries::new(tag);
        let project = h.root.join("proj");
        let user_home = h.root.join("user");
        std::fs::create_dir_all(&project).expect("mkdir project");
        std::fs::create_dir_all(&user_home).expect("mkdir user home");
        let lab = Lab {
            up,
            vars,
            h,
            project,
            user_home,
            c,
        };
        // The first command starts the daemon, which keeps this environment for its life.
        let mut init_vars = lab.vars.clone();
        init_vars.push(("CONTAINMENT_CANARY".into(), lab.c.daemon_env.clone()));
        init_vars.push(("HOME".into(), lab.user_home.display().to_string()));
        let out = lab
            .h
            .run_pty_env(&["init"], &[PASSPHRASE, PASSPHRASE], &init_vars);
        assert!(out.status.success(), "init: {}", describe(&out));

        lab.ok(&["project", "create", WEB]);
        lab.ok(&["project", "create", BILLING]);
        lab.add(Some(WEB), TOKEN, &lab.c.token, &[]);
        lab.add(
            Some(WEB),
            NOTES,
            &lab.c.notes,
            &["--sensitivity", "low", "--revealable"],
        );
        lab.add(Some(WEB), STAGING, &lab.c.staging, &[]);
        lab.add(Some(WEB), OPENAI, &lab.c.key, &[]);
        lab.add(Some(BILLING), TOKEN, &lab.c.outside, &[]);
        lab.add(None, GLOBAL_TOKEN, &lab.c.global, &[]);

        write(
            &lab.project.join(".env"),
            &format!("SECRET={}\n", lab.c.env_file),
        );
        write(
            &lab.project.join("sub/.env.local"),
            &format!("SECRET={}\n", lab.c.env_local),
        );
        write(&lab.project.join(".env.refs"), REFS);
        write(&lab.project.join(".env.example"), "OPENAI_API_KEY=\n");
        write(
            &lab.user_home.join(".ssh/id_ed25519"),
            &format!("{}\n", lab.c.ssh),
        );
        // The narrow profile needs no proof, even from an agent.
        lab.ok(&[
            "agent",
            "create",
            AGENT,
            "--projects",
            WEB,
            "--environments",
            "dev",
        ]);
        lab
    }

    /// `kovra ARGS` in the project directory with the lab's environment (no terminal).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.h.cmd(args);
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c.env("HOME", &self.user_home).current_dir(&self.project);
        c
    }

    /// Another program with the lab's environment, in the project directory.
    pub fn other(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = self.h.with_env(Command::new(program));
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c.env("HOME", &self.user_home).current_dir(&self.project);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.h.run_with(self.cmd(args), None)
    }

    /// `kovra ARGS`; it must exit 0.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert_exit(&out, 0, format!("kovra {args:?}"));
        out
    }

    /// `kovra --json ARGS`: the exit code and the document on stdout.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> (i32, Value) {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        json_of(&self.run(&full), &format!("kovra {full:?}"))
    }

    /// Store `value` at `coord` (in `project`, else the global vault).
    pub fn add(&self, project: Option<&str>, coord: &str, value: &str, extra: &[&str]) {
        let mut args = vec!["add", coord, "--stdin"];
        if let Some(p) = project {
            args.extend(["--project", p]);
        }
        args.extend_from_slice(extra);
        let out = self.h.run_with(self.cmd(&args), Some(value.as_bytes()));
        assert_exit(&out, 0, format!("add {coord}"));
    }

    /// The human at a terminal, typing the passphrase at any prompt: `kovra ARGS`.
    pub fn human(&self, args: &[&str]) -> Output {
        let py = self
            .h
            .pty_answer_cmd("answers-human", args, &[PASSPHRASE, PASSPHRASE]);
        let mut c = py;
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c.env("HOME", &self.user_home).current_dir(&self.project);
        self.h.run_with(c, None)
    }

    /// The daemon's socket (the human's), from `status`.
    pub fn human_socket(&self) -> PathBuf {
        let (code, v) = self.json(&["status"]);
        assert_eq!(code, 0, "{v}");
        PathBuf::from(v["socket"].as_str().expect("socket in status"))
    }

    pub fn daemon_pid(&self) -> u32 {
        let (_, v) = self.json(&["status"]);
        v["daemon_pid"].as_u64().expect("daemon_pid") as u32
    }

    /// The abstract socket name the daemon also listens on (`Paths::abstract_name`):
    /// `kovra/UID/FNV-1a of the home path`.
    pub fn abstract_name(&self) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.h.home.as_os_str().as_encoded_bytes() {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        format!("kovra/{}/{hash:016x}", nix::unistd::geteuid().as_raw())
    }

    /// Profile `name`'s socket, from `kovra agent list`.
    pub fn agent_socket(&self, name: &str) -> PathBuf {
        let (code, v) = self.json(&["agent", "list"]);
        assert_eq!(code, 0, "{v}");
        let socket = v["agents"]
            .as_array()
            .expect("agents")
            .iter()
            .find(|a| a["name"] == name)
            .unwrap_or_else(|| panic!("no profile {name}: {v}"))["socket"]
            .as_str()
            .expect("socket")
            .to_string();
        PathBuf::from(socket)
    }

    /// `kovra sandbox --agent bot -- sh -c SCRIPT` in the project, bare coordinates resolving
    /// in `web`, with `env` added.
    pub fn sandbox(&self, script: &str, env: &[(&str, &str)]) -> Output {
        let mut c = self.cmd(&["sandbox", "--agent", AGENT, "--", "sh", "-c", script]);
        c.env("KOVRA_PROJECT", WEB);
        for (k, v) in env {
            c.env(k, v);
        }
        self.h.run_with(c, None)
    }

    /// The upstream got exactly one request, the pinned call, and it carried the real key
    /// (which only the proxy put there).
    #[track_caller]
    pub fn assert_the_pinned_call_alone_carried_the_key(&self) {
        let got: Vec<serde_json::Value> = self
            .up
            .requests()
            .into_iter()
            .filter(|r| r["path"] == "/v1/echo")
            .collect();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            crate::upstream::req_header(&got[0], "authorization"),
            Some(format!("Bearer {}", self.c.key)),
            "the upstream did not get the real value"
        );
        assert_eq!(
            self.up.count(),
            1,
            "only the pinned call reached the upstream"
        );
    }

    /// No canary, in any form, in `bytes` (`what` says where they came from).
    #[track_caller]
    pub fn assert_clean(&self, bytes: &[u8], what: &str) {
        for (label, value) in self.c.all() {
            assert_absent(bytes, value, &format!("{what}: {label}"));
        }
    }

    /// Nothing any command printed so far holds a canary.
    #[track_caller]
    pub fn assert_nothing_printed(&self) {
        self.assert_clean(&self.h.transcript.borrow(), "the transcript");
    }
}

/// Write `text` at `path`, making its directory.
pub fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// `s` quoted for `sh`.
pub fn q(s: impl AsRef<OsStr>) -> String {
    let s = s.as_ref().to_str().expect("utf-8");
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The exit code and stdout's JSON document of `out`.
#[track_caller]
pub fn json_of(out: &Output, what: &str) -> (i32, Value) {
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: stdout is not JSON ({e}): {}", describe(out)));
    (out.status.code().unwrap_or(-1), v)
}

/// What each `step` printed, by name: (exit code, output).
pub fn steps(text: &str) -> BTreeMap<String, (i32, String)> {
    let mut map = BTreeMap::new();
    let mut current: Option<(String, i32, String)> = None;
    for line in text.lines() {
        if let Some(head) = line.strip_prefix("== ")
            && let Some((name, rc)) = head.rsplit_once(" rc=")
            && let Ok(rc) = rc.parse::<i32>()
        {
            if let Some((n, r, o)) = current.take() {
                map.insert(n, (r, o));
            }
            current = Some((name.to_string(), rc, String::new()));
            continue;
        }
        if let Some((_, _, o)) = current.as_mut() {
            o.push_str(line);
            o.push('\n');
        }
    }
    if let Some((n, r, o)) = current {
        map.insert(n, (r, o));
    }
    map
}

/// The step `name` of a script's output; fails showing everything when it did not run.
#[track_caller]
pub fn step<'a>(
    all: &'a BTreeMap<String, (i32, String)>,
    name: &str,
    out: &Output,
) -> &'a (i32, String) {
    all.get(name)
        .unwrap_or_else(|| panic!("step {name} did not run: {}", describe(out)))
}

/// The `error.code` of a `--json` document printed by a step (the last JSON object in it).
pub fn error_code(text: &str) -> Option<String> {
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    let v: Value = serde_json::from_str(&text[start..=end]).ok()?;
    v["error"]["code"].as_str().map(str::to_string)
}

/// Whether a unix socket connect to `path` succeeds here.
pub fn connects(path: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(path).is_ok()
}

/// Whether a connect to the abstract socket `name` succeeds here.
pub fn connects_abstract(name: &str) -> bool {
    use std::os::linux::net::SocketAddrExt;
    let Ok(addr) = std::os::unix::net::SocketAddr::from_abstract_name(name) else {
        return false;
    };
    std::os::unix::net::UnixStream::connect_addr(&addr).is_ok()
}

/// Probe step `name` ran (126/127, its own program missing, proves nothing) and failed:
/// `why` it must, `place` where it ran (in the message).
#[track_caller]
pub fn refused(
    all: &BTreeMap<String, (i32, String)>,
    name: &str,
    out: &Output,
    why: &str,
    place: &str,
) {
    let (rc, o) = step(all, name, out);
    assert!(![126, 127].contains(rc), "{name} could not run:\n{o}");
    assert_ne!(*rc, 0, "{name}: {why}, yet it worked {place}:\n{o}");
}
