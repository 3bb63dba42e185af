//! PostgreSQL connection records (`add --postgres`): the connection's public parts in
//! `show` and `list`, the password sealed and in no output, file or audit entry; reveal
//! guarded as for any high record; `set` re-reads the connection; a `.env.refs` line is
//! refused. Commands here run without a terminal, so the daemon sees an agent.

use crate::harness::*;
use crate::leak::*;

const COORD: &str = "secret:dev/db/main";

#[test]
fn a_url_is_added_shown_listed_and_its_password_is_nowhere() {
    let h = Home::init();
    let pw = canary("pg-pass");
    let url = format!(
        "postgres://app:{pw}@db.example.com:6432/shop?sslmode=verify-full&application_name=kovra\n"
    );
    let out = h.add(COORD, url.as_bytes(), &["--postgres"]);
    assert!(out.status.success(), "add --postgres: {}", describe(&out));

    let (_, shown) = h.json(&["show", COORD]);
    assert_eq!(shown["type"], "postgres", "{shown}");
    assert_eq!(shown["sensitivity"], "high", "the default for a connection");
    let db = &shown["database"];
    assert_eq!(db["engine"], "postgres");
    assert_eq!(db["hosts"][0]["host"], "db.example.com");
    assert_eq!(db["hosts"][0]["port"], 6432);
    assert_eq!(db["database"], "shop");
    assert_eq!(db["user"], "app");
    assert_eq!(db["sslmode"], "verify-full");
    assert_eq!(db["params"]["application_name"], "kovra");
    assert_eq!(db["password"], true);

    let human = stdout(&h.ok(&["show", COORD]));
    for line in [
        "kind:        postgres",
        "engine:      postgres",
        "host:        db.example.com:6432",
        "database:    shop",
        "user:        app",
        "sslmode:     verify-full",
        "password:    sealed",
        "param:       application_name=kovra",
    ] {
        assert!(human.contains(line), "{line:?} in\n{human}");
    }
    let (_, listed) = h.json(&["list"]);
    let row = listed["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["coordinate"] == COORD)
        .unwrap();
    assert_eq!(row["type"], "postgres");
    assert_eq!(row["database"]["hosts"][0]["host"], "db.example.com");
    let table = stdout(&h.ok(&["list"]));
    assert!(table.contains("postgres"), "{table}");

    // An agent (no terminal) is refused the value of a high record, as for any secret.
    let out = h.run(&["reveal", COORD]);
    assert_exit(&out, 4, "agent reveal of a high connection");

    // Canary scan: the password is in no output, no file of the home, no audit entry.
    let _ = h.ok(&["audit", "--json"]);
    let _ = h.ok(&["history", COORD]);
    assert_nowhere(&h, &pw, "a connection's password");

    // A human with a proof gets the normalized URL, password included.
    let out = h.run_pty(&["reveal", COORD], &[PASSPHRASE]);
    assert!(out.status.success(), "human reveal: {}", describe(&out));
    assert_contains(
        &stdout(&out),
        &format!(
            "postgresql://app:{pw}@db.example.com:6432/shop?sslmode=verify-full&application_name=kovra"
        ),
        &out,
    );
    assert_not_in_files(&h, &pw, "a connection's password after a reveal");
}

#[test]
fn key_values_with_a_tricky_password_and_set_reads_the_connection_again() {
    let h = Home::init();
    let pw = tricky_canary("pg-kv");
    let dsn = format!("host=/var/run/postgresql port=5433 dbname=app user=me password='{pw}'");
    h.add_ok(
        COORD,
        dsn.as_bytes(),
        &["--postgres", "--sensitivity", "medium"],
    );
    let (_, shown) = h.json(&["show", COORD]);
    assert_eq!(shown["sensitivity"], "medium");
    assert_eq!(shown["database"]["hosts"][0]["host"], "/var/run/postgresql");
    assert_eq!(shown["database"]["hosts"][0]["port"], 5433);

    // `set` takes a new connection string, and the metadata follows it.
    let pw2 = canary("pg-set");
    let out = h.run_stdin(
        &["set", COORD, "--stdin"],
        format!("postgresql://other:{pw2}@[::1]:5544/next").as_bytes(),
    );
    assert!(out.status.success(), "set: {}", describe(&out));
    let (_, shown) = h.json(&["show", COORD]);
    assert_eq!(shown["type"], "postgres");
    assert_eq!(shown["version"], 2);
    let db = &shown["database"];
    assert_eq!(
        (
            db["hosts"][0]["host"].as_str(),
            db["hosts"][0]["port"].as_u64()
        ),
        (Some("::1"), Some(5544))
    );
    assert_eq!(db["user"], "other");
    assert_eq!(db["database"], "next");
    // A `set` that is not a connection string is refused and changes nothing.
    let bad = canary("pg-bad");
    let out = h.run_stdin(&["set", COORD, "--stdin"], bad.as_bytes());
    assert_exit(&out, 1, "set of a non-connection");
    assert_contains(&stderr(&out), "connection-invalid", &out);
    assert_eq!(h.json(&["show", COORD]).1["version"], 2);
    // A rollback restores the old connection's metadata with its value.
    let out = h.run(&["rollback", COORD, "1"]);
    assert!(out.status.success(), "rollback: {}", describe(&out));
    let (_, shown) = h.json(&["show", COORD]);
    assert_eq!(shown["version"], 3);
    assert_eq!(shown["database"]["hosts"][0]["host"], "/var/run/postgresql");
    assert_eq!(shown["database"]["user"], "me");

    let _ = h.ok(&["audit", "--json"]);
    for (value, what) in [
        (&pw, "first password"),
        (&pw2, "second password"),
        (&bad, "bad input"),
    ] {
        assert_nowhere(&h, value, what);
    }
}

#[test]
fn what_is_not_a_connection_is_refused_by_field_and_changes_nothing() {
    let h = Home::init();
    let pw = canary("pg-refused");
    for (input, says) in [
        (
            format!("postgres://u:{pw}@h:54x2/db"),
            "a port is not a number",
        ),
        (format!("mysql://u:{pw}@h/db"), "scheme"),
        (
            format!("host=h password={pw} passfile=/home/me/.pgpass"),
            "passfile",
        ),
        (format!("host=h password={pw} sslkey=/k.pem"), "sslkey"),
        (format!("host=h password={pw} colour=blue"), "parameter 3"),
        (format!("host=h password='{pw}"), "no closing quote"),
        (pw.clone(), "neither a postgres:// URL"),
    ] {
        let out = h.add(COORD, input.as_bytes(), &["--postgres"]);
        assert_exit(&out, 1, says);
        let err = stderr(&out);
        assert_contains(&err, says, &out);
        assert_contains(&err, "connection-invalid", &out);
        assert_exit(&h.run(&["show", COORD]), 3, "the vault is unchanged");
    }
    // Flags that make no sense for a connection.
    for extra in [["--totp"], ["--ssh-key"]] {
        let mut args = vec!["--postgres"];
        args.extend(extra);
        let out = h.add(COORD, b"host=h", &args);
        assert!(!out.status.success(), "{extra:?}");
    }
    assert_nowhere(&h, &pw, "refused input");
}

/// A `.env.refs` line naming a connection record is refused (the db proxy will use it), and
/// so is binding it to a provider.
#[test]
fn a_connection_is_not_injected_nor_bound() {
    let p = Project::new();
    let pw = canary("pg-refs");
    p.add(
        COORD,
        &format!("postgres://app:{pw}@db/shop"),
        &["--postgres", "--sensitivity", "low"],
    );
    p.refs(&format!("DATABASE_URL={COORD}\n"));
    let c = p.cmd(&["run", "--", "sh", "-c", "printf '%s' \"$DATABASE_URL\""]);
    let out = p.h.run_with(c, None);
    assert_exit(&out, 4, "a connection in .env.refs");
    assert_contains(&stderr(&out), "policy-denied", &out);
    assert_contains(&stderr(&out), "not injected into a process", &out);
    assert!(!stdout(&out).contains(&pw));
    let out = p.h.run_pty(&["bind", COORD, "openai"], &[PASSPHRASE]);
    assert_exit(&out, 4, "bind a connection");
    assert_contains(&stdout(&out), "never pinned to a provider", &out);
    assert_nowhere(&p.h, &pw, "a low connection's password");
}

/// A connection record never goes into a sharing package (which would carry it as a plain
/// secret): `share` names it and writes nothing; without its group, the rest is shared.
#[test]
fn share_refuses_a_connection_and_names_it() {
    let h = Home::init();
    let public = stdout(&h.ok(&["keygen", "secret:dev/ssh/deploy", "--sensitivity", "low"]));
    let pw = canary("pg-share");
    h.add_ok(
        COORD,
        format!("postgres://app:{pw}@db/shop").as_bytes(),
        &["--postgres", "--sensitivity", "low"],
    );
    h.add_ok(
        "secret:dev/api/token",
        canary("share-token").as_bytes(),
        &["--sensitivity", "low"],
    );
    let package = h.root.join("pkg.age");
    let share = |group: &str| {
        let args = [
            "share",
            "--env",
            "dev",
            "--group",
            group,
            "--to",
            public.trim(),
            "--out",
            package.to_str().unwrap(),
        ];
        h.run_pty(&args, &[PASSPHRASE])
    };
    let out = share("db");
    assert_exit(&out, 4, "share of a connection");
    let shown = format!("{}{}", stdout(&out), stderr(&out));
    assert_contains(&shown, "connection records are not shared", &out);
    assert_contains(&shown, COORD, &out);
    assert!(!package.exists(), "a package was written");
    let refused = audit(&h, &["--action", "share"]);
    assert!(
        refused
            .iter()
            .any(|e| e["reason"] == "connection-never-shared"),
        "{refused:?}"
    );
    let out = share("api");
    assert!(
        out.status.success(),
        "share of the api group: {}",
        describe(&out)
    );
    assert!(package.exists());
    assert_nowhere(&h, &pw, "a shared-refused connection's password");
}

/// At a terminal, the connection string is typed at a hidden prompt that says what it
/// takes; the terminal never shows the password.
#[test]
fn a_human_types_the_connection_at_a_hidden_prompt() {
    let h = Home::init();
    let pw = canary("pg-typed");
    let spec = h.root.join("pty-spec.json");
    let rule = serde_json::json!({
        "expect": r"connection string for secret:dev/db/main \(postgres://… or key=value; hidden\): $",
        "send": format!("host=db.internal user=me password={pw}"),
        "times": 1,
    });
    std::fs::write(
        &spec,
        serde_json::json!({"rules": [rule], "timeout": 60}).to_string(),
    )
    .unwrap();
    let out = h.run_with(
        h.support_cmd("pty_script.py", [&spec], &["add", COORD, "--postgres"]),
        None,
    );
    assert!(out.status.success(), "typed add: {}", describe(&out));
    assert_absent(&out.stdout, &pw, "the typed password on the terminal");
    let (_, shown) = h.json(&["show", COORD]);
    assert_eq!(shown["database"]["hosts"][0]["host"], "db.internal");
    assert_eq!(shown["database"]["user"], "me");
    assert_nowhere(&h, &pw, "a typed connection's password");
}
