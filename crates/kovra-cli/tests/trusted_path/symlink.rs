//! Issue 11 §2: the daemon executes exactly what it checked. A symlink that named an
//! allowlisted program when the run was approved (or when the daemon checked it) and is
//! re-pointed by the agent before the exec must never run its new target; and a file the
//! user can write (so the agent can rewrite it after hashing) is never allowlisted.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::harness::*;
use crate::leak::*;
use crate::nonroot;

const TOKEN: &str = "secret:dev/app/token";

/// Point `link` at `target`, atomically (a new link renamed over the old one).
fn repoint(link: &Path, target: &Path) {
    let tmp = link.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).expect("symlink");
    std::fs::rename(&tmp, link).expect("rename symlink");
}

/// The agent's own client, stalled by an `LD_PRELOAD` hook of its own: the first `sendmsg`
/// that carries descriptors (the run's stdin/stdout/stderr, sent once the daemon answered
/// `run-ready`) creates `STALL/ready` and waits (at most 10 s) for `STALL/go`. The hook
/// removes itself and its variable from the environment first, so the request is the one
/// the human approved.
const STALL_C: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[1024];

__attribute__((constructor)) static void kovra_test_stall_init(void) {
    const char *d = getenv("KOVRA_TEST_STALL");
    if (d && strlen(d) < sizeof dir) strcpy(dir, d);
    unsetenv("KOVRA_TEST_STALL");
    unsetenv("LD_PRELOAD");
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
    static ssize_t (*real)(int, const struct msghdr *, int);
    if (!real) real = (ssize_t (*)(int, const struct msghdr *, int))dlsym(RTLD_NEXT, "sendmsg");
    if (dir[0] && msg && msg->msg_controllen > 0) {
        char ready[1100], go[1100];
        struct stat st;
        snprintf(ready, sizeof ready, "%s/ready", dir);
        snprintf(go, sizeof go, "%s/go", dir);
        dir[0] = 0;
        int f = open(ready, O_WRONLY | O_CREAT, 0644);
        if (f >= 0) close(f);
        for (int i = 0; i < 1000 && stat(go, &st) != 0; i++) {
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
    }
    return real(fd, msg, flags);
}
"#;

fn wait_child(mut child: Child, timeout: Duration) -> std::process::Output {
    let deadline = Instant::now() + timeout;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn repointed_symlink_never_executes() {
    if nonroot::test_user("symlink::repointed_symlink_never_executes") {
        return;
    }
    let (h, value) = home_with_canary("symlink", TOKEN, &["--sensitivity", "high"]);
    let work = work_with_token(&h, TOKEN);
    let marker = work.join("evil-ran");
    let evil = work.join("evil.sh");
    script(&evil, &format!("echo evil >> '{}'", marker.display()));
    let mut findings = Vec::new();

    // A file this user can write is never allowlisted (the agent could rewrite it later).
    let mine = work.join("mine.sh");
    script(&mine, "exit 0");
    let out = pty(
        &h,
        None,
        &["--json", "allow", "add", mine.to_str().expect("utf8")],
        &[PASSPHRASE],
        60,
    );
    if out.status.success() || !stdout(&out).contains("allowlist-writable") {
        findings.push(format!(
            "`kovra allow add` of a file the user can write: want a refusal with code \
             allowlist-writable, got {}",
            describe(&out)
        ));
    }
    // A root-owned program is.
    human_allows_ok(&h, Path::new("/bin/true"));

    let tool = work.join("tool");
    let run = ["run", "--", "./tool"];

    // 1. Re-pointed after the approval, before the agent runs it again.
    repoint(&tool, Path::new("/bin/true"));
    match park_and_approve(&h, &work, &run, &[]) {
        Err(e) => findings.push(format!("re-pointed after approval: {e}")),
        Ok(()) => {
            repoint(&tool, &evil);
            let out = agent(&h, &work, &run, &[]);
            if marker.exists() {
                findings.push(format!(
                    "re-pointed after approval: the new target ran (exit {:?})",
                    out.status.code()
                ));
            } else if out.status.success() {
                findings.push(format!(
                    "re-pointed after approval: the run succeeded: {}",
                    describe(&out)
                ));
            }
        }
    }
    let _ = std::fs::remove_file(&marker);

    // 2. Re-pointed between the daemon's check and its exec: the agent's own client stalls
    //    (an LD_PRELOAD hook on itself) once the daemon has checked and said run-ready.
    //    Another command line (`./tool window`), so it is a request of its own: the approval
    //    above may still be unused (a re-pointed run is another request, refused or parked).
    let run = ["run", "--", "./tool", "window"];
    repoint(&tool, Path::new("/bin/true"));
    let stall_dir = h.root.join("stall");
    std::fs::create_dir_all(&stall_dir).expect("mkdir stall");
    let stall = compile_so(&h.root, "stall", STALL_C);
    match park_and_approve(&h, &work, &run, &[]) {
        Err(e) => findings.push(format!("re-pointed between check and exec: {e}")),
        Ok(()) => {
            let mut c = h.cmd(&run);
            c.current_dir(&work)
                .env("LD_PRELOAD", &stall)
                .env("KOVRA_TEST_STALL", &stall_dir)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = c.spawn().expect("spawn kovra run");
            let ready = stall_dir.join("ready");
            let stalled = wait_until(Instant::now() + Duration::from_secs(20), || {
                ready.exists() || child.try_wait().ok().flatten().is_some()
            }) && ready.exists();
            repoint(&tool, &evil);
            std::fs::write(stall_dir.join("go"), "").expect("go");
            let out = wait_child(child, Duration::from_secs(30));
            h.transcript.borrow_mut().extend(text(&out).into_bytes());
            if marker.exists() {
                findings.push(format!(
                    "re-pointed between check and exec: the daemon checked /bin/true and \
                     executed {} (run exit {:?})",
                    evil.display(),
                    out.status.code()
                ));
            }
            println!(
                "check-to-exec window: client stalled after run-ready: {stalled}; run: {}",
                describe(&out)
            );
        }
    }

    // 3. An allowlisted interpreter given a script the user can write: the script's content
    //    is part of what was approved, so rewriting it (same inode) after the approval makes
    //    it another request, and the new content never runs with the value.
    let _ = std::fs::remove_file(&marker);
    human_allows_ok(&h, Path::new("/bin/sh"));
    let own = work.join("own.sh");
    std::fs::write(&own, "echo approved\n").expect("script");
    let run = ["run", "--", "sh", "./own.sh"];
    match park_and_approve(&h, &work, &run, &[]) {
        Err(e) => findings.push(format!("script rewritten after approval: {e}")),
        Ok(()) => {
            std::fs::write(&own, format!("echo evil >> '{}'\n", marker.display()))
                .expect("rewrite");
            let out = agent(&h, &work, &run, &[]);
            if marker.exists() {
                findings.push(format!(
                    "script rewritten after approval: the new content ran (exit {:?})",
                    out.status.code()
                ));
            } else if out.status.code() != Some(5) {
                findings.push(format!(
                    "script rewritten after approval: want it parked again (exit 5): {}",
                    describe(&out)
                ));
            }
        }
    }

    assert_no_findings("a re-pointed symlink", &findings);
    assert_not_printed(&h, &value, "the record's value");
}
