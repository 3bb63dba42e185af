//! Records carried between vaults: a share and receive between two homes, and the USB kit.

use super::*;

/// §2–3: A shares to B's `kovra identity`; B receives once, after accepting A's fingerprint;
/// values and metadata arrive; the package cannot be received twice; no value anywhere else.
#[test]
fn round_trip_between_two_vaults() {
    let a = Sender::new("trip");
    let b = Home::init();
    let ida = identity(&a.h);
    let idb = identity(&b);
    assert_ne!(ida.fingerprint, idb.fingerprint);
    // Reading the identity again gives the same one.
    let again = identity(&b);
    assert_eq!(
        (again.recipient, again.fingerprint),
        (idb.recipient.clone(), idb.fingerprint.clone())
    );
    let pre = canary("trip-b-own");
    add_ok(&b, "secret:dev/own/thing", &pre, &[]);
    let before = records(&b);

    // The whole of dev holds an inject-only record: refused, no package.
    let out = a.h.root.join("pkg.age");
    let run = share_tty(&a.h, &share_args("dev", &idb.recipient, &out, &[]));
    assert_eq!(run.code, Some(4), "{}", run.describe());
    assert_eq!(run.error_code(), "policy-denied", "{}", run.describe());
    assert!(!out.exists(), "a package was written although refused");
    assert!(
        tokens_in(&run.tty).is_empty(),
        "a token was shown although refused"
    );
    assert!(
        serde_json::to_string(&audit_entries(&a.h, "share"))
            .unwrap()
            .contains("inject-only-never-shared"),
        "the refusal's reason is not audited"
    );

    let args = share_args("dev", &idb.recipient, &out, SHAREABLE);
    let s = share(&a.h, &args);

    // The same --out again: not overwritten.
    let pkg_bytes = std::fs::read(&s.file).unwrap();
    let run = share_tty(&a.h, &args);
    assert_ne!(run.code, Some(0), "{}", run.describe());
    assert_eq!(run.error_code(), "output-exists", "{}", run.describe());
    assert_eq!(std::fs::read(&s.file).unwrap(), pkg_bytes);

    // B receives: asked for the token, then to accept A's fingerprint, then a proof.
    let run = receive_tty(&b, &s.file, &s.token, "y", &[]);
    assert_eq!(run.code, Some(0), "receive: {}", run.describe());
    let q = run.tty_line("accept sender", "sender");
    assert!(
        q.contains(&ida.fingerprint),
        "the question does not show A's fingerprint: {q}"
    );
    assert!(
        !run.all().contains(&s.token),
        "the typed token was echoed: {}",
        run.describe()
    );

    // The records and their metadata.
    let mut want = vec![HIGH, LOW, MEDIUM, "secret:dev/own/thing"];
    want.sort();
    assert_eq!(coordinates(&b), want);
    for (coord, sens, revealable, desc) in [
        (LOW, "low", true, "the app token (low)"),
        (MEDIUM, "medium", false, "dev database"),
        (HIGH, "high", false, "upstream API key"),
    ] {
        let (code, v) = b.json(&["show", coord]);
        assert_eq!(code, 0, "{v}");
        assert_eq!(v["sensitivity"], sens, "{coord}: {v}");
        assert_eq!(v["revealable"], revealable, "{coord}: {v}");
        assert_eq!(v["description"], desc, "{coord}: {v}");
    }
    // The values: a plain reveal, a hash computed by a child, a reveal with a proof.
    assert_eq!(reveal_plain(&b, LOW), a.low.as_bytes());
    assert_eq!(hash_via_run(&b, MEDIUM), sha256_hex(a.medium.as_bytes()));
    let shown = reveal_tty(&b, HIGH);
    assert!(
        shown.contains(&a.high),
        "the high value did not arrive: {shown}"
    );
    // Agents still may not reveal what was high in the package.
    let o = b.run(&["reveal", HIGH]);
    assert_eq!(o.status.code(), Some(4), "{}", describe(&o));
    let after = Refusals::new(&b);

    // The same package again: single use, whatever the sender answer.
    let again = ["package-already-received"];
    after.tty("second receive", &s.file, &s.token, &again);
    after.file("second receive (token file)", &s.file, &s.token, &again);
    assert_eq!(hash_via_run(&b, MEDIUM), sha256_hex(a.medium.as_bytes()));

    // Audits: A's share and B's receive name the package; B's refusals are audited too.
    let plain_id = tokens_in(&s.run.stdout).is_empty();
    assert!(plain_id);
    let shares = audit_entries(&a.h, "share");
    let receives = audit_entries(&b, "receive");
    let id = s
        .run
        .stdout
        .split(|c: char| !c.is_ascii_hexdigit())
        .find(|w| w.len() == 32)
        .unwrap_or_else(|| panic!("no package id on stdout: {}", s.run.describe()))
        .to_string();
    assert!(
        shares
            .iter()
            .any(|e| e.to_string().contains(&id) && e.to_string().contains(&idb.recipient)),
        "{shares:?}"
    );
    assert!(
        receives
            .iter()
            .any(|e| e.to_string().contains(&id) && e["decision"] != "deny"),
        "{receives:?}"
    );
    assert!(
        receives
            .iter()
            .any(|e| e["decision"] == "deny" && e.to_string().contains("package-already-received")),
        "the refused second receive is not audited with its code: {receives:?}"
    );
    let _ = before;

    assert_token_nowhere(&[&a.h, &b], &s.token, &[]);
    let mut values = a.values();
    values.push(&pre);
    assert_no_values(&[&a.h, &b], &values, &[&s.file]);
}

/// §4: the USB kit, end to end between two homes through a folder.
#[test]
fn the_usb_kit_carries_records_to_a_new_vault() {
    let a = Sender::new("kit");
    let ida = identity(&a.h);
    let b = Home::new();
    let dir = a.h.root.join("stick");
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap();

    // init: the binary, the script, the readme; no secret.
    a.h.ok(&["kit", "init", d]);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["README.txt", "install.sh", "kovra", "kovra-full"]
    );
    for name in ["kovra", "kovra-full"] {
        let meta = std::fs::metadata(dir.join(name)).unwrap();
        assert_eq!(
            meta.permissions().mode() & 0o777,
            0o755,
            "DIR/{name} is not 0755"
        );
        assert_eq!(
            std::fs::read(dir.join(name)).unwrap(),
            std::fs::read(kovra_bin().with_file_name(name)).unwrap(),
            "DIR/{name} is not a copy of the installed program"
        );
    }
    assert_no_values(
        &[],
        &a.values(),
        &files_under(&dir)
            .iter()
            .map(PathBuf::as_path)
            .collect::<Vec<_>>(),
    );

    // The new machine: install.sh with B's home.
    let prefix = b.root.join("prefix");
    let mut sh = Command::new("sh");
    sh.arg(dir.join("install.sh"));
    let mut sh = b.with_env(sh);
    sh.env("KOVRA_KIT_PREFIX", &prefix)
        .env("KOVRA_PASSPHRASE_FILE", &b.pass_file)
        .env("HOME", &b.root)
        .current_dir(&b.root);
    let o = b.run_with(sh, None);
    assert_exit(&o, 0, "install.sh");
    let installed = prefix.join("bin/kovra");
    assert!(
        installed.is_file()
            && std::fs::metadata(&installed).unwrap().permissions().mode() & 0o111 != 0,
        "no executable {}",
        installed.display()
    );
    assert!(
        b.home.join("vault.db").is_file(),
        "install.sh did not create B's vault"
    );
    let idb = identity(&b);
    let rtxt = std::fs::read_to_string(dir.join("recipient.txt")).expect("recipient.txt");
    assert!(
        rtxt.contains(&idb.recipient)
            && rtxt.contains(&idb.signing_key)
            && rtxt.contains(&idb.fingerprint),
        "{rtxt}"
    );
    assert!(
        stdout(&o).contains(&idb.fingerprint) || stderr(&o).contains(&idb.fingerprint),
        "install.sh does not print the fingerprint: {}",
        describe(&o)
    );

    // seal: refused without a terminal, or when the fingerprint is not confirmed.
    let o =
        a.h.run(&["kit", "seal", d, "--env", "dev", "--group", "db"]);
    assert!(!o.status.success(), "{}", describe(&o));
    assert!(!dir.join("package.age").exists());
    let seal = |answer: &str| {
        let mut args = vec!["kit", "seal", d, "--env", "dev"];
        args.extend_from_slice(SHAREABLE);
        kpty(&a.h, &args, &[(YES_NO, answer, 1), PROOF[0]])
    };
    let run = seal("n");
    assert_ne!(run.code, Some(0), "{}", run.describe());
    assert_eq!(
        run.error_code(),
        "fingerprint-mismatch",
        "{}",
        run.describe()
    );
    assert!(
        !dir.join("package.age").exists(),
        "sealed although not confirmed"
    );
    assert!(tokens_in(&run.all()).is_empty());
    let run = seal("y");
    assert_eq!(run.code, Some(0), "seal: {}", run.describe());
    let q = run.tty_line("does the new machine show", "fingerprint");
    assert_eq!(fingerprints_in(&q), vec![idb.fingerprint.clone()], "{q}");
    assert!(dir.join("package.age").is_file());
    let tokens = tokens_in(&run.tty);
    assert_eq!(tokens.len(), 1, "{}", run.describe());
    let token = tokens[0].clone();
    assert!(
        !run.stdout.contains(&token) && !run.stderr.contains(&token),
        "{}",
        run.describe()
    );
    assert_token_nowhere(&[&a.h], &token, &[&dir]);

    // install.sh unlocked B from a passphrase file, which proves nothing; the human on the
    // new machine unlocks at a terminal before opening.
    b.stop();
    b.unlock_typed();

    // open, on the new machine, with the token; A's fingerprint shown for acceptance.
    let open = || {
        kpty(
            &b,
            &["kit", "open", d],
            &[(r"token: ?$", &token, 1), (YES_NO, "y", 1), PROOF[0]],
        )
    };
    let run = open();
    assert_eq!(run.code, Some(0), "open: {}", run.describe());
    assert!(run.tty.contains(&ida.fingerprint), "{}", run.describe());
    assert_eq!(coordinates(&b), vec![HIGH, LOW, MEDIUM]);
    assert_eq!(reveal_plain(&b, LOW), a.low.as_bytes());
    assert_eq!(hash_via_run(&b, MEDIUM), sha256_hex(a.medium.as_bytes()));
    // Once only.
    let before = records(&b);
    let run = open();
    refused_run(
        &b,
        &before,
        "kit opened twice",
        &run,
        &["package-already-received"],
    );

    assert_token_nowhere(&[&a.h, &b], &token, &[&dir, &prefix]);
    let files: Vec<PathBuf> = files_under(&dir)
        .into_iter()
        .chain(files_under(&prefix))
        .collect();
    assert_no_values(
        &[&a.h, &b],
        &a.values(),
        &files.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
    );
}
