//! Brokered queries (`kovra query`) against a real PostgreSQL on loopback (kovra-testpg: TLS
//! verified by name, SCRAM passwords): rows for anyone in scope, writes only with a proof,
//! timeouts and caps, values the database holds scrubbed, and the connection's password in
//! no output, file or audit entry.

use std::time::{Duration, Instant};

use kovra_testpg::{Pg, PgOptions, Role};

use crate::harness::*;
use crate::leak::canary;

const DB: &str = "secret:dev/app/db";

fn count(pg: &Pg) -> String {
    let out = pg.psql_as(
        pg.login("app"),
        "verify-full",
        &["-c", "select count(*) from items"],
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn queries_return_scrubbed_rows_and_writes_need_a_proof() {
    let password = canary("pg-password");
    let pg = Pg::start(PgOptions::default().role(Role::owner("app", &password)));
    let h = Home::init();
    let mut seen = Vec::new();
    let url = pg.url("app", &password, "verify-full");
    let out = h.add(DB, url.as_bytes(), &["--postgres"]);
    assert!(out.status.success(), "add --postgres: {}", describe(&out));
    // A value of the vault that the database also holds.
    let token = canary("pg-token");
    h.add_ok("secret:dev/app/token", token.as_bytes(), &[]);
    let made = pg.psql_as(
        pg.login("app"),
        "verify-full",
        &[
            "-c",
            &format!(
                "create table items(id int, name text); insert into items select g, 'n' || g from generate_series(1, 5) g; insert into items values (99, '{token}')"
            ),
        ],
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );

    // Rows, as a table, JSON and CSV; parameters bound.
    let out = h.agent(
        &[
            "query",
            DB,
            "--",
            "select id, name from items where id < 4 order by id",
        ],
        &mut seen,
    );
    assert!(
        out.status.success(),
        "query: {}\n{}",
        describe(&out),
        pg.log()
    );
    assert_eq!(stdout(&out), "id  name\n--  ----\n1   n1\n2   n2\n3   n3\n");
    let (code, v) = h.json(&[
        "query",
        DB,
        "--param",
        "2",
        "--",
        "select name from items where id = $1",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["kind"], "query");
    assert_eq!(v["rows"], serde_json::json!([["n2"]]));
    assert_eq!(v["columns"][0]["type_name"], "text");
    let out = h.agent(
        &[
            "query",
            DB,
            "--csv",
            "--",
            "select id, name from items where id = 1",
        ],
        &mut seen,
    );
    assert_eq!(stdout(&out), "id,name\r\n1,n1\r\n");
    // An injection attempt in a parameter stays data.
    let (code, v) = h.json(&[
        "query",
        DB,
        "--param",
        "1; drop table items",
        "--",
        "select count(*) from items where name = $1",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(count(&pg), "6");

    // A value of the vault the database prints comes back masked.
    let out = h.agent(
        &["query", DB, "--", "select name from items where id = 99"],
        &mut seen,
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        stdout(&out).contains("[kovra:") && !stdout(&out).contains(&token),
        "{}",
        describe(&out)
    );

    // A write runs read-only and fails; asked as a write, an agent's waits for the human.
    let out = h.agent(
        &["query", DB, "--", "insert into items values (7, 'x')"],
        &mut seen,
    );
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert_contains(&stderr(&out), "query-read-only", &out);
    let out = h.agent(
        &[
            "query",
            DB,
            "--write",
            "--",
            "insert into items values (7, 'x')",
        ],
        &mut seen,
    );
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    let (_, pending) = h.json(&["approve"]);
    assert!(
        pending.to_string().contains("insert into items values (7"),
        "{pending}"
    );
    assert_eq!(count(&pg), "6");
    // A person gives the proof at the terminal.
    let out = h.run_pty(
        &[
            "query",
            DB,
            "--write",
            "--",
            "insert into items values (7, 'x')",
        ],
        &[PASSPHRASE],
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(count(&pg), "7");

    // Caps and timeouts.
    let (code, v) = h.json(&[
        "query",
        DB,
        "--",
        "select g from generate_series(1, 100000) g",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["truncated"], true);
    assert_eq!(v["rows"].as_array().unwrap().len(), 1000);
    let started = Instant::now();
    let out = h.agent(
        &["query", DB, "--timeout", "1", "--", "select pg_sleep(10)"],
        &mut seen,
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_contains(&stderr(&out), "query-timeout", &out);

    // Bad input: clear errors, the daemon keeps serving.
    let out = h.agent(&["query", DB, "--", "selec 1"], &mut seen);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_contains(&stderr(&out), "42601", &out);
    let out = h.agent(&["query", DB, "--", "select 1; select 2"], &mut seen);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let out = h.agent(
        &["query", "secret:dev/app/token", "--", "select 1"],
        &mut seen,
    );
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let wrong = pg.url("app", "not the password", "verify-full");
    h.add_ok("secret:dev/app/wrong", wrong.as_bytes(), &["--postgres"]);
    let out = h.agent(
        &["query", "secret:dev/app/wrong", "--", "select 1"],
        &mut seen,
    );
    assert_contains(&stderr(&out), "db-auth-refused", &out);
    let out = h.agent(&["query", DB, "--", "select 1"], &mut seen);
    assert!(out.status.success(), "{}", describe(&out));

    // Audited with a fingerprint of the statement, never rows nor the connection.
    let trail = audit(&h, &["--action", "query-result"]);
    assert!(
        trail
            .iter()
            .any(|e| e["detail"].as_str().unwrap().contains("rows 3")),
        "{trail:?}"
    );
    let (_, all) = h.json(&["audit"]);
    seen.extend_from_slice(all.to_string().as_bytes());
    let needles = vec![password.as_bytes().to_vec(), token.as_bytes().to_vec()];
    for n in &needles {
        assert!(!contains(&seen, n), "a secret in the output");
    }
    assert!(h.files_containing(&needles).is_empty());
    assert!(!h.transcript_contains(&needles));
}
