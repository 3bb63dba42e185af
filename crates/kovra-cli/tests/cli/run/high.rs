//! High and production values: the allowlist, proofs of presence, and values delivered
//! on a descriptor.

use super::refusals::{TOUCH, assert_refused, run_touch};
use super::*;

// ---------------------------------------------------------------------------------------
// High and production values: allowlist and proof of presence
// ---------------------------------------------------------------------------------------

/// A project with a high record `KEY`, a script that proves it got it, and the script's path.
fn high_setup(tag: &str) -> (Proj, String, PathBuf) {
    let p = Proj::new();
    let value = canary(tag);
    p.add("secret:dev/api/key", &value, &["--sensitivity", "high"]);
    p.refs("KEY=secret:dev/api/key\n");
    let tool = p.dir.join("tool.sh");
    write_executable(
        &tool,
        "#!/bin/sh\ntouch child-ran\nprintf %s \"$KEY\" | sha256sum\n",
    );
    (p, value, tool)
}

fn allow_add(p: &Proj, path: &Path) {
    let out = p.pty_answer(&["allow", "add", path.to_str().unwrap()], &[PASSPHRASE]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

#[test]
fn a_high_record_never_goes_into_an_executable_that_is_not_allowlisted() {
    let (p, value, _) = high_setup("notallowed");
    for argv in [&["./tool.sh"][..], TOUCH] {
        let mut args = vec!["run", "--"];
        args.extend_from_slice(argv);
        let out = p.run(&args);
        assert_refused(
            &p,
            &out,
            4,
            "policy-denied",
            &["secret:dev/api/key", "allowlist", "`kovra allow add /"],
        );
        // Not even for a human with the passphrase: no prompt, still refused.
        let out = p.pty_answer(&args, &[PASSPHRASE]);
        assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
        assert_contains(&stdout(&out), "code: policy-denied", &out);
        assert!(!stdout(&out).contains("passphrase: "), "{}", describe(&out));
        p.assert_nothing_ran(&out);
    }
    let denied = p.injections("deny");
    assert!(!denied.is_empty());
    assert!(
        denied
            .iter()
            .all(|e| e["reason"] == "executable-not-allowlisted"),
        "{denied:?}"
    );
    // Production and inject-only records too.
    p.add("secret:prod/db/password", &canary("notallowed-prod"), &[]);
    p.add(
        "secret:dev/sign/key",
        &canary("notallowed-io"),
        &["--sensitivity", "inject-only"],
    );
    for line in ["P=secret:prod/db/password\n", "S=secret:dev/sign/key\n"] {
        p.refs(line);
        let out = run_touch(&p, &[]);
        assert_refused(&p, &out, 4, "policy-denied", &["allowlist"]);
    }
    assert_not_printed(&p.h, &value, "the injected value");
}

#[test]
fn an_allowlisted_executable_gets_a_high_value_only_with_a_proof_of_presence() {
    let (p, value, tool) = high_setup("allowed");
    // Adding needs a proof: an agent cannot.
    let out = p.run(&["allow", "add", "./tool.sh"]);
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    assert!(stderr(&out).contains("code: needs-proof"));
    assert!(!stdout(&p.expect(0, &["allow", "list"])).contains("tool.sh"));
    allow_add(&p, &tool);
    let listing = stdout(&p.expect(0, &["allow", "list"]));
    let canonical = tool.canonicalize().unwrap().display().to_string();
    let sha = sha256_hex(&std::fs::read(&tool).unwrap());
    // The path and when, then its pin on the next line.
    assert!(
        listing.contains(&format!("{canonical}  added "))
            && listing.contains(&format!("\n  sha256:{sha}")),
        "{listing}"
    );

    // An agent: needs a proof, and nothing runs.
    let out = p.run(&["run", "--", "./tool.sh"]);
    assert_refused(&p, &out, 5, "needs-proof", &["inject-needs-proof"]);
    // A human with a wrong passphrase: refused, nothing runs.
    let out = p.pty_answer(&["run", "--", "./tool.sh"], &["not the passphrase"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert_contains(&stdout(&out), "code: proof-invalid", &out);
    p.assert_nothing_ran(&out);
    // A human who types the passphrase: it runs, with the value.
    let out = p.pty_answer(&["run", "--", "./tool.sh"], &[PASSPHRASE]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout(&out);
    assert!(text.contains("needs a proof of presence"), "{text}");
    assert!(text.contains(&sha256_hex(value.as_bytes())), "{text}");
    assert!(p.marker().exists());
    let allowed = p.injections("allow");
    assert_eq!(allowed.len(), 1, "{allowed:?}");
    assert_eq!(allowed[0]["reason"], "proof-of-presence");
    std::fs::remove_file(p.marker()).unwrap();

    // A copy of the allowlisted script elsewhere is not allowlisted.
    let copy = p.dir.join("copy.sh");
    install_program(&tool, &copy, 0o755);
    let out = p.run(&["run", "--", "./copy.sh"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(!p.marker().exists());

    // Removed from the allowlist: refused again.
    let out = p.run(&["allow", "rm", "./tool.sh"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = p.run(&["run", "--", "./tool.sh"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert_contains(&stderr(&out), "code: policy-denied", &out);
    assert!(!p.marker().exists());
    assert_not_printed(&p.h, &value, "the injected value");
}

#[test]
fn an_allowlisted_executable_whose_content_changed_is_refused() {
    let p = Proj::new();
    let value = canary("hashchange");
    p.add("secret:dev/api/key", &value, &["--sensitivity", "high"]);
    p.refs("KEY=secret:dev/api/key\n");
    // A binary (a copy of `true`) and a script, both allowlisted, then changed.
    let bin = p.dir.join("mytrue");
    install_program(
        Path::new(
            ["/bin/true", "/usr/bin/true"]
                .iter()
                .find(|p| Path::new(p).exists())
                .unwrap(),
        ),
        &bin,
        0o755,
    );
    let script = p.dir.join("tool.sh");
    write_executable(&script, "#!/bin/sh\ntouch child-ran\n");
    allow_add(&p, &bin);
    allow_add(&p, &script);
    // Before the change a human can run them.
    let out = p.pty_answer(&["run", "--", "./tool.sh"], &[PASSPHRASE]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    std::fs::remove_file(p.marker()).unwrap();
    let before = p.injections("allow").len();

    let mut f = std::fs::OpenOptions::new().append(true).open(&bin).unwrap();
    f.write_all(b"\0changed").unwrap();
    drop(f);
    write_executable(
        &script,
        "#!/bin/sh\ntouch child-ran\nprintf %s \"$KEY\" > stolen\n",
    );
    for target in ["./mytrue", "./tool.sh"] {
        let out = p.run(&["run", "--", target]);
        let name = target.trim_start_matches("./");
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        let err = stderr(&out);
        assert!(err.contains("code: allowlist-hash-mismatch"), "{err}");
        assert!(err.contains(name) && err.contains("changed"), "{err}");
        // A human gets the same answer; no passphrase is asked for.
        let out = p.pty_answer(&["run", "--", target], &[PASSPHRASE]);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        assert!(stdout(&out).contains("code: allowlist-hash-mismatch"));
        assert!(!stdout(&out).contains("passphrase: "), "{}", describe(&out));
    }
    assert!(!p.marker().exists());
    assert!(!p.dir.join("stolen").exists());
    assert_eq!(p.injections("allow").len(), before);
    // `--no-secrets` needs no allowlist, so the changed file still runs without values.
    let out = p.expect(0, &["run", "--no-secrets", "--", "./tool.sh"]);
    assert!(out.stderr.is_empty(), "{}", describe(&out));
    assert_eq!(std::fs::read(p.dir.join("stolen")).unwrap(), b"");
    assert_not_printed(&p.h, &value, "the injected value");
}

/// `NAME=fd:secret:…` delivers the value on a descriptor the child reads; the variable holds
/// only the descriptor's number, so the value is never in the child's environment (nor in
/// `/proc/PID/environ` for its whole life). The output is masked as for any value.
#[test]
fn a_value_on_a_descriptor_never_enters_the_childs_environment() {
    let p = Proj::new();
    let value = canary("fd");
    p.add("secret:dev/app/token", &value, &["--sensitivity", "medium"]);
    let low = canary("fd-low");
    p.add("secret:dev/app/low", &low, &[]);
    p.refs("TOKEN_FD=fd:secret:dev/app/token\nLOW_FD=fd:secret:dev/app/low\n");
    // The child reads the value into an unexported variable, looks for it in its own
    // /proc/PID/environ, and prints only a hash and the verdict.
    let script = concat!(
        "printf 'fds %s %s\\n' \"$TOKEN_FD\" \"$LOW_FD\"; ",
        "v=$(cat <&\"$TOKEN_FD\"); printf %s \"$v\" | sha256sum; ",
        "cat <&\"$LOW_FD\" | sha256sum; ",
        "if tr '\\0' '\\n' < /proc/$$/environ | grep -qF \"$v\"; then echo IN-ENV; else echo NOT-IN-ENV; fi; ",
        "cat <&\"$TOKEN_FD\" | wc -c",
    );
    let out = p.run(&["run", "--", "sh", "-c", script]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout(&out);
    assert!(text.contains("fds 3 4"), "{text}");
    assert!(text.contains("NOT-IN-ENV"), "{text}");
    assert!(text.contains(&sha256_hex(value.as_bytes())), "{text}");
    assert!(text.contains(&sha256_hex(low.as_bytes())), "{text}");
    // Read once: a second read finds the pipe empty.
    assert!(text.trim_end().ends_with('0'), "{text}");
    assert_absent_decoded(&out_err(&out), &value, "fd delivery");
    assert_absent_decoded(&out_err(&out), &low, "fd delivery");
    // A fallback makes no sense for a descriptor.
    p.refs("TOKEN_FD=fd:secret:dev/app/token | x\n");
    let out = p.run(&["run", "--", "true"]);
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    assert_not_printed(&p.h, &value, "the injected value");
}

/// A value that is also the start of another value, printed at the very end of the output:
/// the redactor's held-back tail is masked when the stream ends, never printed in clear.
#[test]
fn a_value_at_the_end_of_the_output_is_masked_even_when_it_starts_another() {
    let p = Proj::new();
    let a = canary("tail");
    let b = format!("my-{a}-2");
    p.add("secret:dev/app/a", &a, &[]);
    p.add("secret:dev/app/b", &b, &[]);
    p.refs("A=secret:dev/app/a\nB=secret:dev/app/b\n");
    let out = p.run(&["run", "--", "sh", "-c", "printf 'my-%s' \"$A\""]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(!contains(&out.stdout, a.as_bytes()), "{}", describe(&out));
    assert_eq!(stdout(&out), "my-[kovra:A]");
}
