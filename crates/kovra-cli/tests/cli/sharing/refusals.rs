//! What `share` and `receive` refuse: production and inject-only records, bad recipients,
//! no terminal, unknown senders, expired packages and production receivers.

use super::*;

/// §2: what `share` refuses, each leaving no package and showing no token.
#[test]
fn share_refuses_production_inject_only_empty_bad_recipients_and_no_terminal() {
    let a = Sender::new("refuse");
    let b = Home::init();
    let idb = identity(&b);
    let out = a.h.root.join("pkg.age");
    // `share` of `env` to `to` with `extra`, at a terminal: exit `exit`, error `code`, no
    // package written, no token shown.
    let refuse = |what: &str, env: &str, to: &str, extra: &[&str], exit: i32, code: &str| {
        let run = share_tty(&a.h, &share_args(env, to, &out, extra));
        assert_eq!(run.code, Some(exit), "{what}: {}", run.describe());
        assert_eq!(run.error_code(), code, "{what}: {}", run.describe());
        assert!(!out.exists(), "{what}: a package was written");
        assert!(
            tokens_in(&run.all()).is_empty(),
            "{what}: a token was shown"
        );
        run
    };
    let db: &[&str] = &["--group", "db"];
    // Production: never, with or without groups, whatever the proof.
    for (what, extra) in [("prod", &[][..]), ("prod group", db)] {
        refuse(what, "prod", &idb.recipient, extra, 4, "policy-denied");
    }
    let audit = serde_json::to_string(&audit_entries(&a.h, "share")).unwrap();
    assert!(audit.contains("production-never-shared"), "{audit}");
    // A config-declared production environment is production too.
    declare_staging_production(&a.h);
    add_ok(&a.h, "secret:staging/app/x", &canary("refuse-staging"), &[]);
    for (what, env, extra, exit, code) in [
        (
            "staging (configured production)",
            "staging",
            &[][..],
            4,
            "policy-denied",
        ),
        // Inject-only in the selection.
        (
            "inject-only",
            "dev",
            &["--group", "signing"][..],
            4,
            "policy-denied",
        ),
        // Nothing selected.
        ("empty env", "qa", &[][..], 3, "nothing-to-share"),
        (
            "empty group",
            "dev",
            &["--group", "nosuch"][..],
            3,
            "nothing-to-share",
        ),
    ] {
        refuse(what, env, &idb.recipient, extra, exit, code);
    }
    // Recipients that are not X25519 or ssh-ed25519.
    let garbage = a.h.root.join("garbage.pub");
    std::fs::write(&garbage, "hello, I am not a key\n").unwrap();
    let mangled = {
        let mut r = idb.recipient.clone();
        let last = r.pop().unwrap();
        r.push(if last == 'q' { 'p' } else { 'q' });
        r
    };
    let secret_key = std::fs::read_to_string(age_keygen(&a.h.root, "k.txt").0).unwrap();
    let secret_key = secret_key
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_string();
    for bad in [
        "bob",
        "age1",
        mangled.as_str(),
        secret_key.as_str(),
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 user@host",
        "ssh-ed25519 AAAAnotbase64!! user@host",
        garbage.to_str().unwrap(),
    ] {
        let what = format!("recipient {bad:?}");
        let run = refuse(&what, "dev", bad, db, 2, "recipient-invalid");
        assert!(
            !run.all().contains("AGE-SECRET-KEY-") || bad != secret_key,
            "the secret key was echoed"
        );
    }
    // A ttl beyond 30 days, or not one.
    for ttl in ["31d", "soon"] {
        let extra = ["--group", "db", "--ttl", ttl];
        refuse(
            &format!("ttl {ttl}"),
            "dev",
            &idb.recipient,
            &extra,
            2,
            "ttl-invalid",
        );
    }
    // No terminal: no token can be shown, so no package.
    let mut args = vec!["share"];
    args.extend(share_args("dev", &idb.recipient, &out, db));
    let o2 = a.h.run(&args);
    assert!(!o2.status.success(), "{}", describe(&o2));
    let code = code_of(&o2);
    assert!(code == "no-terminal", "{}", describe(&o2));
    assert!(!out.exists(), "a package was written without a terminal");
    assert!(tokens_in(&stdout(&o2)).is_empty() && tokens_in(&stderr(&o2)).is_empty());
    // Nor can a token be asked for: a clear error with a way round, not "os error 6".
    let not_a_package = a.h.root.join("some.age");
    std::fs::write(&not_a_package, "text").unwrap();
    let o3 = a.h.run(&["receive", not_a_package.to_str().unwrap()]);
    assert_eq!(code_of(&o3), "no-terminal", "{}", describe(&o3));
    assert!(!stderr(&o3).contains("os error"), "{}", describe(&o3));
    assert!(stderr(&o3).contains("--token-file"), "{}", describe(&o3));
    assert_no_values(&[&a.h], &a.values(), &[]);
}

/// §3: the first package from a sender is refused until its fingerprint is accepted; a
/// wrong `--accept-sender` does not accept it; once accepted, later packages need no
/// question; `--force` replaces and keeps the higher sensitivity.
#[test]
fn an_unknown_sender_is_refused_until_accepted() {
    let a = Sender::new("sender");
    let b = Home::init();
    let ida = identity(&a.h);
    let idb = identity(&b);
    let out = a.h.root.join("pkg.age");
    let s = share(&a.h, &share_args("dev", &idb.recipient, &out, SHAREABLE));
    let r = Refusals::new(&b);
    let unknown = ["sender-unknown"];

    // No terminal: sender-unknown (exit 5), naming the fingerprint; nothing imported.
    let o = r.file("unknown sender", &s.file, &s.token, &unknown);
    assert_eq!(o.status.code(), Some(5), "{}", describe(&o));
    assert!(
        stdout(&o).contains(&ida.fingerprint) || stderr(&o).contains(&ida.fingerprint),
        "the refusal does not show the fingerprint: {}",
        describe(&o)
    );
    // At a terminal, answering no.
    let run = receive_tty(&b, &s.file, &s.token, "n", &[]);
    assert!(run.tty.contains(&ida.fingerprint), "{}", run.describe());
    refused_run(&b, &r.before, "answered no", &run, &unknown);
    // A wrong fingerprint given to --accept-sender.
    let wrong = random_token()[..19].to_string();
    let run = receive_tty(&b, &s.file, &s.token, "n", &["--accept-sender", &wrong]);
    refused_run(&b, &r.before, "wrong --accept-sender", &run, &unknown);
    // The right one, with a proof.
    let run = kpty(
        &b,
        &[
            "receive",
            s.file.to_str().unwrap(),
            "--accept-sender",
            &ida.fingerprint,
        ],
        &[
            (r"token: ?$", &s.token.to_lowercase(), 1),
            (YES_NO, "n", 1),
            (PASSPHRASE_PROMPT, PASSPHRASE, 2),
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(coordinates(&b), vec![HIGH, LOW, MEDIUM]);

    // A second package from the accepted sender: no question, no terminal needed.
    let low = ["--sensitivity", "low"];
    add_ok(&a.h, "secret:qa/app/x", &canary("sender-qa"), &low);
    let qa = canary("sender-qa2");
    // Revealable in the package: the replaced records were not, and must stay so.
    let low_revealable = ["--sensitivity", "low", "--revealable"];
    add_ok(&a.h, "secret:qa/app/y", &qa, &low_revealable);
    let own = canary("sender-own");
    add_ok(&b, "secret:qa/app/y", &own, &["--sensitivity", "high"]);
    let qz = canary("sender-qz");
    add_ok(&a.h, "secret:qa/app/z", &qz, &low_revealable);
    let own_z = canary("sender-own-z");
    add_ok(&b, "secret:qa/app/z", &own_z, &low);
    let out2 = a.h.root.join("pkg2.age");
    let s2 = share(&a.h, &share_args("qa", &idb.recipient, &out2, &[]));
    // An existing coordinate: record-exists without --force.
    let sloppy = format!(" {} ", s2.token.to_lowercase());
    Refusals::new(&b).file("existing record", &s2.file, &sloppy, &["record-exists"]);
    // With --force (a proof): replaced, keeping the higher sensitivity.
    let run = receive_tty(&b, &s2.file, &s2.token, "n", &["--force"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(
        !run.tty.contains("accept sender"),
        "asked again about an accepted sender: {}",
        run.describe()
    );
    let (_, v) = b.json(&["show", "secret:qa/app/y"]);
    assert_eq!(
        v["sensitivity"], "high",
        "--force lowered the existing record: {v}"
    );
    assert_eq!(
        v["revealable"], false,
        "--force made a non-revealable record revealable: {v}"
    );
    let shown = reveal_tty(&b, "secret:qa/app/y");
    assert!(shown.contains(&qa), "not replaced: {shown}");
    let (_, v) = b.json(&["show", "secret:qa/app/x"]);
    assert_eq!(v["sensitivity"], "low", "{v}");
    // A low record, not revealable: replaced, still low, still not revealable, so an agent
    // still cannot read it back.
    let (_, v) = b.json(&["show", "secret:qa/app/z"]);
    assert_eq!(v["sensitivity"], "low", "{v}");
    assert_eq!(
        v["revealable"], false,
        "--force made a non-revealable record revealable: {v}"
    );
    assert_eq!(
        hash_via_run(&b, "secret:qa/app/z"),
        sha256_hex(qz.as_bytes())
    );
    let o = b.run(&["reveal", "secret:qa/app/z"]);
    assert!(
        !o.status.success(),
        "an agent revealed a record that was never revealable: exit {:?}",
        o.status.code()
    );

    let mut values = a.values();
    values.push(&own);
    values.push(&qa);
    values.push(&qz);
    values.push(&own_z);
    assert_no_values(&[&a.h, &b], &values, &[&s.file, &s2.file]);
}

/// §3: expiry and the receiver's own production list.
#[test]
fn expired_packages_and_receiver_production_environments_are_refused() {
    let a = Sender::new("expiry");
    let b = Home::init();
    let idb = identity(&b);
    // B treats `staging` as production; A does not.
    declare_staging_production(&b);
    let staging = canary("expiry-staging");
    add_ok(
        &a.h,
        "secret:staging/app/x",
        &staging,
        &["--sensitivity", "low"],
    );
    let r = Refusals::new(&b);

    let p1 = a.h.root.join("short.age");
    let db_1s = ["--group", "db", "--ttl", "1s"];
    let short = share(&a.h, &share_args("dev", &idb.recipient, &p1, &db_1s));
    let p2 = a.h.root.join("staging.age");
    let st = share(&a.h, &share_args("staging", &idb.recipient, &p2, &[]));
    std::thread::sleep(std::time::Duration::from_millis(2200));
    r.both("expired", &short.file, &short.token, &["package-expired"]);
    let what = "production by B's config";
    let o = r.file(what, &st.file, &st.token, &["policy-denied"]);
    assert_eq!(o.status.code(), Some(4));
    r.tty(
        &format!("{what}, at a terminal"),
        &st.file,
        &st.token,
        &["policy-denied"],
    );
    let receives = serde_json::to_string(&audit_entries(&b, "receive")).unwrap();
    assert!(receives.contains("package-expired"), "{receives}");
    let mut values = a.values();
    values.push(&staging);
    assert_no_values(&[&a.h, &b], &values, &[&short.file, &st.file]);
}
