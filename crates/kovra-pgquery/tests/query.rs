//! kovra-pgquery against a real PostgreSQL 15 (kovra-testpg): rows, parameters, the
//! read-only transaction, timeouts, caps, one statement only, login and TLS failures, and a
//! canary password that no error may show.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kovra_pgquery::{Limits, Mode, QueryError, QueryResult, Target, query};
use kovra_testpg::{Pg, PgOptions, Role};
use zeroize::Zeroizing;

/// The owner's password: it must never show in an error.
const CANARY: &str = "canary-pw-5e1f0c9a77";
const READER_PW: &str = "reader-pw-3b8d";

/// One server for the whole file (stopped when the test process ends).
fn pg() -> &'static Pg {
    static PG: OnceLock<Pg> = OnceLock::new();
    PG.get_or_init(|| {
        let pg = Pg::start(
            PgOptions::default()
                .role(Role::owner("app", CANARY))
                .role(Role::read_only("reader", READER_PW)),
        );
        let out = pg.psql_as(
            pg.login("app"),
            "verify-full",
            &["-c", "create table items (id int primary key, name text)"],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg
    })
}

fn app_url(sslmode: &str) -> Zeroizing<String> {
    Zeroizing::new(pg().url("app", CANARY, sslmode))
}

fn run(sql: &str, params: &[&str], mode: Mode, limits: &Limits) -> Result<QueryResult, QueryError> {
    let url = app_url("verify-full");
    let params: Vec<String> = params.iter().map(|p| p.to_string()).collect();
    query(
        &Target {
            url: &url,
            ca_pem: None,
        },
        sql,
        &params,
        mode,
        limits,
    )
}

fn ro(sql: &str, params: &[&str]) -> Result<QueryResult, QueryError> {
    run(sql, params, Mode::ReadOnly, &Limits::default())
}

/// `sql`'s single value, through psql as the superuser.
fn psql_value(sql: &str) -> String {
    let out = pg().psql(&["-c", sql]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn cell(r: &QueryResult, row: usize, col: usize) -> Option<&str> {
    r.rows[row][col].as_deref()
}

#[test]
fn selects_rows_with_columns_and_a_tag() {
    let r = ro(
        "select n, n::text as t, n % 2 = 0 as even from generate_series(1, 3) n",
        &[],
    )
    .unwrap();
    let cols: Vec<_> = r
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.type_name.as_str()))
        .collect();
    assert_eq!(cols, [("n", "int4"), ("t", "text"), ("even", "bool")]);
    assert_eq!(r.rows.len(), 3);
    assert_eq!(
        r.rows[1],
        [Some("2".into()), Some("2".into()), Some("t".into())]
    );
    assert_eq!((r.row_count, r.truncated), (3, false));
    assert_eq!(r.command_tag, "SELECT 3");
}

#[test]
fn values_render_as_the_servers_text() {
    let exprs = [
        "1::int2",
        "'-9223372036854775808'::int8",
        "4294967295::oid",
        "1.5::float8",
        "0.1::float4",
        "1e15::float8",
        "1e14::float8",
        "0.00001::float8",
        "-1.5e-7::float8",
        "0.0001::float8",
        "1e6::float4",
        "123456::float4",
        "3.4e38::float4",
        "'NaN'::float8",
        "'-Infinity'::float8",
        "12345.678::numeric",
        "-0.000012::numeric",
        "1e30::numeric",
        "'NaN'::numeric",
        "'hé'::text",
        "'x'::varchar(3)",
        "'\\x00ff10'::bytea",
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid",
        "'{\"a\": [1, 2]}'::json",
        "'{\"b\": 1, \"a\": null}'::jsonb",
        "'2024-02-29'::date",
        "'0044-03-15 BC'::date",
        "'infinity'::date",
        "'2024-01-02 03:04:05.5'::timestamp",
        "'1999-12-31 23:59:59.000001'::timestamp",
        "'13:14:15.25'::time",
        "'13:14:15+05:30'::timetz",
        "'1 year 2 mons 3 days 04:05:06.7'::interval",
        "'-1 day -00:00:01'::interval",
        "'-1 mon +1 day 02:00'::interval",
        "'0'::interval",
        "'-3 years'::interval",
        "array[1, 2, null]",
        "array[['a b', 'NULL'], ['x\\\"y', '']]",
        "'{}'::int[]",
        "'[0:1]={7,8}'::int[]",
        "array['2024-01-02'::date]",
        "array[1.5::numeric]",
    ];
    for e in exprs {
        let r = ro(&format!("select {e}, ({e})::text"), &[]).unwrap();
        assert_eq!(cell(&r, 0, 0), cell(&r, 0, 1), "{e}");
    }
    let r = ro(
        "select '2024-01-02 03:04:05+02'::timestamptz, null::int, array[1,2], point(1,2), 'ab'::char(4)",
        &[],
    )
    .unwrap();
    assert_eq!(cell(&r, 0, 0), Some("2024-01-02 01:04:05+00"));
    assert_eq!(cell(&r, 0, 1), None);
    assert_eq!(cell(&r, 0, 2), Some("{1,2}"));
    assert_eq!(cell(&r, 0, 3), Some("<point>"));
    // char(n) keeps its padding (its `::text` cast trims it; psql shows it).
    assert_eq!(cell(&r, 0, 4), Some("ab  "));
}

#[test]
fn params_are_data_never_sql() {
    let evil = "x'); drop table items; --";
    let r = ro("select $1::text, $2::int + 1", &[evil, "41"]).unwrap();
    assert_eq!(cell(&r, 0, 0), Some(evil));
    assert_eq!(cell(&r, 0, 1), Some("42"));
    assert_eq!(
        psql_value("select count(*) from pg_tables where tablename = 'items'"),
        "1"
    );
    // A value the server cannot parse: its message quotes it, the error does not.
    match ro("select $1::int", &["notanumber"]) {
        Err(QueryError::Sql { code, message }) => {
            assert_eq!(code, "22P02");
            assert!(!message.contains("notanumber"), "{message}");
            assert!(message.contains("$1"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        ro("select $1::int, $2::int", &["1"]),
        Err(QueryError::Params {
            expected: 2,
            given: 1
        })
    ));
}

#[test]
fn read_only_refuses_writes_and_read_write_commits() {
    let e = ro("insert into items values (100, 'ro')", &[]).unwrap_err();
    assert!(matches!(e, QueryError::ReadOnlyViolation), "{e:?}");
    // An escape attempt from inside one statement.
    let e = ro(
        "do $$ begin set transaction read write; insert into items values (101, 'do'); end $$",
        &[],
    )
    .unwrap_err();
    assert!(
        matches!(e, QueryError::Sql { .. } | QueryError::ReadOnlyViolation),
        "{e:?}"
    );
    assert_eq!(
        psql_value("select count(*) from items where id in (100, 101)"),
        "0"
    );

    let limits = Limits::default();
    let r = run(
        "insert into items values ($1, $2)",
        &["102", "rw"],
        Mode::ReadWrite,
        &limits,
    )
    .unwrap();
    assert_eq!((r.command_tag.as_str(), r.row_count), ("INSERT 0 1", 1));
    assert_eq!(psql_value("select name from items where id = 102"), "rw");
    // A failing statement commits nothing.
    let e = run(
        "insert into items values (103, 'a'), (102, 'dup')",
        &[],
        Mode::ReadWrite,
        &limits,
    )
    .unwrap_err();
    assert!(
        matches!(e, QueryError::Sql { ref code, .. } if code == "23505"),
        "{e:?}"
    );
    assert_eq!(psql_value("select count(*) from items where id = 103"), "0");
    let r = run(
        "update items set name = 'rw2' where id >= 102",
        &[],
        Mode::ReadWrite,
        &limits,
    )
    .unwrap();
    assert_eq!(r.command_tag, "UPDATE 1");
}

#[test]
fn statement_timeout_ends_a_slow_statement() {
    let limits = Limits {
        statement_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let start = Instant::now();
    let e = run("select pg_sleep(5)", &[], Mode::ReadOnly, &limits).unwrap_err();
    let took = start.elapsed();
    assert!(matches!(e, QueryError::Timeout), "{e:?}");
    // Not the statement's five seconds (connecting on a loaded machine takes some of it).
    assert!(took < Duration::from_millis(4500), "{took:?}");
}

#[test]
fn a_statement_that_catches_its_timeout_is_ended() {
    // The loop catches the cancel that statement_timeout sends, so only the client's bound
    // ends it: a cancel (caught too), then pg_terminate_backend from a second session.
    let limits = Limits {
        statement_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    // It also turns off client_connection_check_interval, so dropping the connection
    // would not end it either.
    let sql = "do $$ begin set local client_connection_check_interval = 0; \
               loop begin perform pg_sleep(0.2); \
               exception when query_canceled then null; end; end loop; end $$";
    let start = Instant::now();
    let e = run(sql, &[], Mode::ReadOnly, &limits).unwrap_err();
    let took = start.elapsed();
    assert!(matches!(e, QueryError::Timeout), "{e:?}");
    assert!(took < Duration::from_secs(6), "{took:?}");
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left = psql_value(
            "select count(*) from pg_stat_activity where query like 'do $$ begin set local client%'",
        );
        if left == "0" {
            break;
        }
        assert!(Instant::now() < deadline, "the backend is still running");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn big_results_stop_at_the_caps() {
    let r = ro(
        "select n, repeat('x', 10) from generate_series(1, 100000) n",
        &[],
    )
    .unwrap();
    assert_eq!(r.rows.len(), 1000);
    assert!(r.truncated);
    // Fetching stopped one row past the cap: the count is a lower bound.
    assert_eq!(r.row_count, 1001);
    assert_eq!(cell(&r, 999, 0), Some("1000"));

    let limits = Limits {
        max_bytes: 1000,
        ..Limits::default()
    };
    // Each row's text is 2 + 98 bytes: ten fit.
    let r = run(
        "select n + 10, repeat('y', 98) from generate_series(1, 50) n",
        &[],
        Mode::ReadOnly,
        &limits,
    )
    .unwrap();
    assert_eq!((r.rows.len(), r.truncated), (10, true));

    let r = ro("select n from generate_series(1, 1000) n", &[]).unwrap();
    assert_eq!(
        (r.rows.len(), r.truncated, r.row_count),
        (1000, false, 1000)
    );
}

#[test]
fn one_statement_only() {
    let e = ro("select 1; select 2", &[]).unwrap_err();
    assert!(matches!(e, QueryError::TooManyStatements), "{e:?}");
    let e = run(
        "select 1; insert into items values (200, 'two')",
        &[],
        Mode::ReadWrite,
        &Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(e, QueryError::TooManyStatements), "{e:?}");
    let e = ro(
        "commit; begin read write; insert into items values (201, 'x'); commit",
        &[],
    )
    .unwrap_err();
    assert!(matches!(e, QueryError::TooManyStatements), "{e:?}");
    assert_eq!(
        psql_value("select count(*) from items where id in (200, 201)"),
        "0"
    );
}

#[test]
fn wrong_password_is_auth() {
    let url = Zeroizing::new(pg().url("app", "not-the-password", "verify-full"));
    let e = query(
        &Target {
            url: &url,
            ca_pem: None,
        },
        "select 1",
        &[],
        Mode::ReadOnly,
        &Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(e, QueryError::Auth), "{e:?}");
}

#[test]
fn read_only_role_works() {
    let url = Zeroizing::new(pg().url("reader", READER_PW, "verify-full"));
    let r = query(
        &Target {
            url: &url,
            ca_pem: None,
        },
        "select count(*) from items",
        &[],
        Mode::ReadOnly,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(r.rows.len(), 1);
}

/// A loopback port nothing listens on.
fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn server_down_is_connect_quickly() {
    let url = Zeroizing::new(format!(
        "postgresql://app:{CANARY}@127.0.0.1:{}/kovra?sslmode=require",
        dead_port()
    ));
    let start = Instant::now();
    let e = query(
        &Target {
            url: &url,
            ca_pem: None,
        },
        "select 1",
        &[],
        Mode::ReadOnly,
        &Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(e, QueryError::Connect(_)), "{e:?}");
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_silent_server_times_out_at_connect() {
    // Accepts the TCP connection, then never answers the TLS request.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = Zeroizing::new(format!(
        "postgresql://app:{CANARY}@127.0.0.1:{port}/kovra?sslmode=require"
    ));
    let limits = Limits {
        connect_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let start = Instant::now();
    let e = query(
        &Target {
            url: &url,
            ca_pem: None,
        },
        "select 1",
        &[],
        Mode::ReadOnly,
        &limits,
    )
    .unwrap_err();
    let took = start.elapsed();
    drop(listener);
    assert!(matches!(e, QueryError::Connect(_)), "{e:?}");
    assert!(!format!("{e} {e:?}").contains(CANARY));
    // Bounded by the connect timeout, not hanging (slack for a loaded machine).
    assert!(took < Duration::from_millis(4500), "{took:?}");
}

#[test]
fn tls_modes() {
    // Another server's CA does not verify this one.
    let other = Pg::start(PgOptions::default());
    let other_ca = std::fs::read(other.ca_pem()).unwrap();
    let url = app_url("verify-full");
    let e = query(
        &Target {
            url: &url,
            ca_pem: Some(&other_ca),
        },
        "select 1",
        &[],
        Mode::ReadOnly,
        &Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(e, QueryError::Tls(_)), "{e:?}");

    // The right CA given as PEM, no sslrootcert in the URL.
    let ca = std::fs::read(pg().ca_pem()).unwrap();
    let bare = Zeroizing::new(format!(
        "postgresql://app:{CANARY}@127.0.0.1:{}/kovra",
        pg().port()
    ));
    let r = query(
        &Target {
            url: &bare,
            ca_pem: Some(&ca),
        },
        "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
        &[],
        Mode::ReadOnly,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(cell(&r, 0, 0), Some("t"));

    // `require` without a CA: encrypted, unchecked, because the URL says so.
    let req = Zeroizing::new(format!(
        "postgresql://app:{CANARY}@127.0.0.1:{}/kovra?sslmode=require",
        pg().port()
    ));
    let r = query(
        &Target {
            url: &req,
            ca_pem: None,
        },
        "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
        &[],
        Mode::ReadOnly,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(cell(&r, 0, 0), Some("t"));
    // `require` with the wrong CA is checked like verify-ca, and fails.
    let e = query(
        &Target {
            url: &req,
            ca_pem: Some(&other_ca),
        },
        "select 1",
        &[],
        Mode::ReadOnly,
        &Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(e, QueryError::Tls(_)), "{e:?}");

    // verify-ca needs a CA; the system's roots only with verify-full.
    let e = query(
        &Target {
            url: &Zeroizing::new(format!(
                "postgresql://app:{CANARY}@127.0.0.1:{}/kovra?sslmode=verify-ca",
                pg().port()
            )),
            ca_pem: None,
        },
        "select 1",
        &[],
        Mode::ReadOnly,
        &Limits::default(),
    )
    .unwrap_err();
    assert!(
        matches!(e, QueryError::Tls(ref m) if m.contains("verify-ca")),
        "{e:?}"
    );
    let r = query(
        &Target {
            url: &app_url("verify-ca"),
            ca_pem: None,
        },
        "select 1",
        &[],
        Mode::ReadOnly,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(cell(&r, 0, 0), Some("1"));
    // The system's roots do not know the test CA.
    let e = query(
        &Target {
            url: &Zeroizing::new(format!(
                "postgresql://app:{CANARY}@127.0.0.1:{}/kovra?sslrootcert=system",
                pg().port()
            )),
            ca_pem: None,
        },
        "select 1",
        &[],
        Mode::ReadOnly,
        &Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(e, QueryError::Tls(_)), "{e:?}");

    // `prefer` is refused before connecting; `disable` is tried, and this server wants TLS.
    let e = query(
        &Target {
            url: &app_url("prefer"),
            ca_pem: None,
        },
        "select 1",
        &[],
        Mode::ReadOnly,
        &Limits::default(),
    )
    .unwrap_err();
    assert!(
        matches!(e, QueryError::Connect(ref m) if m.contains("prefer")),
        "{e:?}"
    );
    let e = query(
        &Target {
            url: &app_url("disable"),
            ca_pem: None,
        },
        "select 1",
        &[],
        Mode::ReadOnly,
        &Limits::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            QueryError::Auth | QueryError::Sql { .. } | QueryError::Connect(_)
        ),
        "{e:?}"
    );
}

#[test]
fn no_error_shows_the_password() {
    let ca = std::fs::read(pg().ca_pem()).unwrap();
    let other = format!("{}x", &CANARY[..CANARY.len() - 1]);
    let port = pg().port();
    let urls = [
        // Refused connection, a URL that does not parse, an unknown parameter, a bad port.
        format!("postgresql://app:{CANARY}@127.0.0.1:{}/kovra", dead_port()),
        format!("postgresql://app:{CANARY}@127.0.0.1:{port}/kovra?sslmode={CANARY}"),
        format!("postgresql://app:{CANARY}@127.0.0.1:{port}/kovra?bogus={CANARY}"),
        format!("postgresql://app:{CANARY}@[127.0.0.1:{port}/kovra"),
        format!("postgresql://app:{CANARY}@127.0.0.1:{port}/kovra?port={CANARY}"),
        format!("mysql://app:{CANARY}@127.0.0.1:{port}/kovra"),
        format!(
            "postgresql://app:{CANARY}@127.0.0.1:{port}/kovra?sslrootcert=/nonexistent/{CANARY}"
        ),
        // Wrong database, wrong user, plaintext refused.
        format!("postgresql://app:{CANARY}@127.0.0.1:{port}/nosuchdb"),
        format!("postgresql://nosuchuser:{CANARY}@127.0.0.1:{port}/kovra"),
        format!("postgresql://app:{CANARY}@127.0.0.1:{port}/kovra?sslmode=disable"),
        // The canary as the wrong password of another role.
        format!("postgresql://reader:{CANARY}@127.0.0.1:{port}/kovra"),
        // A near-miss of the canary as app's password.
        format!("postgresql://app:{other}@127.0.0.1:{port}/kovra"),
    ];
    let mut errors = Vec::new();
    for u in &urls {
        let url = Zeroizing::new(u.clone());
        match query(
            &Target {
                url: &url,
                // The record's CA would win over the URL's broken sslrootcert.
                ca_pem: (!u.contains("sslrootcert")).then_some(ca.as_slice()),
            },
            "select 1",
            &[],
            Mode::ReadOnly,
            &Limits::default(),
        ) {
            Err(e) => errors.push(e),
            Ok(_) => panic!("connected with a broken URL"),
        }
    }
    // Errors after connecting: a bad statement, a timeout, a write refused.
    let url = app_url("verify-full");
    let t = Target {
        url: &url,
        ca_pem: None,
    };
    let quick = Limits {
        statement_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    for sql in [
        "select nosuchcolumn",
        "select pg_sleep(2)",
        "insert into items values (300, 'x')",
        "select 1; select 2",
    ] {
        errors.push(query(&t, sql, &[], Mode::ReadOnly, &quick).unwrap_err());
    }
    for e in &errors {
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(CANARY), "{shown}");
        assert!(!shown.contains(&other), "{shown}");
        assert!(!shown.contains("canary"), "{shown}");
    }
}
