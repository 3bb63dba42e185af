use super::*;

const CANARY: &str = "Canary-pw-7f3a9";

fn pg(input: &str) -> Result<Connection, DbConnError> {
    parse(DbEngine::Postgres, input.as_bytes())
}

fn value(c: &Connection) -> &str {
    std::str::from_utf8(c.value.expose()).unwrap()
}

fn host(h: &str, port: u16) -> DbHost {
    DbHost {
        host: Some(h.into()),
        port,
    }
}

#[test]
fn a_url_splits_into_public_metadata_and_a_sealed_url() {
    let c = pg(&format!(
        "postgres://app:{CANARY}@db.example.com:6432/shop?sslmode=verify-full&application_name=kovra\n"
    ))
    .unwrap();
    assert_eq!(
        c.info,
        DbConnInfo {
            engine: DbEngine::Postgres,
            hosts: vec![host("db.example.com", 6432)],
            database: Some("shop".into()),
            user: Some("app".into()),
            sslmode: Some("verify-full".into()),
            params: [("application_name".to_string(), "kovra".to_string())].into(),
            password: true,
        }
    );
    assert_eq!(
        value(&c),
        format!(
            "postgresql://app:{CANARY}@db.example.com:6432/shop?sslmode=verify-full&application_name=kovra"
        )
    );
    let json = serde_json::to_string(&c.info).unwrap();
    assert!(!json.contains(CANARY));
    assert!(!format!("{c:?}").contains(CANARY));
}

#[test]
fn url_parts_are_percent_decoded_and_the_value_re_escapes_them() {
    let c = pg("postgresql://us%40er:p%40ss%3Aw%2Fd@h/my%20db").unwrap();
    assert_eq!(c.info.user.as_deref(), Some("us@er"));
    assert_eq!(c.info.database.as_deref(), Some("my db"));
    assert_eq!(c.info.hosts, vec![host("h", 5432)]);
    assert_eq!(
        value(&c),
        "postgresql://us%40er:p%40ss%3Aw%2Fd@h:5432/my%20db"
    );
    // Reading the value again gives the same connection.
    assert_eq!(pg(value(&c)).unwrap().info, c.info);
}

#[test]
fn an_unescaped_at_in_the_password_reads_as_meant() {
    let c = pg("postgres://u:p@ss@h/db").unwrap();
    assert_eq!(c.info.hosts, vec![host("h", 5432)]);
    assert_eq!(value(&c), "postgresql://u:p%40ss@h:5432/db");
}

#[test]
fn ipv6_host_lists_and_unix_sockets() {
    let c = pg("postgresql://[::1]:5433,[fe80::1%25eth0],db2:7/x").unwrap();
    assert_eq!(
        c.info.hosts,
        vec![
            host("::1", 5433),
            host("fe80::1%eth0", 5432),
            host("db2", 7)
        ]
    );
    assert_eq!(
        value(&c),
        "postgresql://[::1]:5433,[fe80::1%25eth0]:5432,db2:7/x"
    );
    assert_eq!(pg(value(&c)).unwrap().info, c.info);

    let sock = pg("postgresql://%2Fvar%2Frun%2Fpostgresql/db").unwrap();
    assert_eq!(sock.info.hosts, vec![host("/var/run/postgresql", 5432)]);
    assert_eq!(pg(value(&sock)).unwrap().info, sock.info);
    let q = pg("postgresql:///db?host=/tmp&port=5433").unwrap();
    assert_eq!(q.info.hosts, vec![host("/tmp", 5433)]);

    let local = pg("postgresql:///db").unwrap();
    assert_eq!(
        local.info.hosts,
        vec![DbHost {
            host: None,
            port: 5432
        }]
    );
    assert_eq!(value(&local), "postgresql:///db?port=5432");
    assert_eq!(pg(value(&local)).unwrap().info, local.info);
    assert!(!local.info.password);
}

#[test]
fn one_port_for_all_hosts_or_one_each() {
    let c = pg("host=a,b port=6000").unwrap();
    assert_eq!(c.info.hosts, vec![host("a", 6000), host("b", 6000)]);
    let c = pg("host=a,b port=6000,").unwrap();
    assert_eq!(c.info.hosts, vec![host("a", 6000), host("b", 5432)]);
    assert_eq!(
        pg("host=a,b port=1,2,3").unwrap_err(),
        DbConnError::PortCount { ports: 3, hosts: 2 }
    );
}

#[test]
fn key_values_with_quotes_and_escapes() {
    let c = pg(&format!(
        "host=db.internal  port = 5433 dbname='my db' user=o\\'neil password='{CANARY} it\\'s' options='-c search_path=app' sslmode=require"
    ))
    .unwrap();
    assert_eq!(c.info.hosts, vec![host("db.internal", 5433)]);
    assert_eq!(c.info.database.as_deref(), Some("my db"));
    assert_eq!(c.info.user.as_deref(), Some("o'neil"));
    assert_eq!(c.info.sslmode.as_deref(), Some("require"));
    assert_eq!(c.info.params["options"], "-c search_path=app");
    assert!(c.info.password);
    let again = pg(value(&c)).unwrap();
    assert_eq!(again.info, c.info);
    assert_eq!(again.value, c.value);
    assert!(value(&c).contains(&format!("{CANARY}%20it%27s")));
    // An empty quoted value is no value.
    assert!(!pg("host=h password=''").unwrap().info.password);
    // A `://` inside a value does not make the parameters a URL (the law below found it).
    let c = pg("host=h dbname='://' user=u").unwrap();
    assert_eq!(c.info.database.as_deref(), Some("://"));
}

/// The buffer that holds the password is allocated once, at its final size.
#[test]
fn the_sealed_url_is_built_without_regrowing() {
    let slash = format!("{CANARY}/");
    let accented = format!("{CANARY} é");
    for (input, password) in [
        (
            "postgres://us%20er:Canary-pw-7f3a9%2F@h1:1,[::1]:2/d%20b?sslmode=require&options=-c%20x"
                .to_string(),
            Some(slash.as_str()),
        ),
        (
            format!("host=/tmp port=5 password='{accented}'"),
            Some(accented.as_str()),
        ),
        ("dbname=x".to_string(), None),
    ] {
        let c = pg(&input).unwrap();
        let url = postgres_url(&c.info, password);
        assert_eq!(url.as_str(), value(&c));
        assert_eq!(url.capacity(), url.len(), "{input}");
    }
}

#[test]
fn jdbc_ssl_true_is_require() {
    let c = pg("postgres://h/db?ssl=true").unwrap();
    assert_eq!(c.info.sslmode.as_deref(), Some("require"));
}

#[test]
fn refusals_name_the_field() {
    use DbConnError as E;
    let cases: &[(&str, DbConnError)] = &[
        ("", E::Empty),
        ("  \n", E::Empty),
        ("just some text", E::NotConnectionString),
        ("mysql://u:p@h/db", E::Scheme),
        ("jdbc:postgresql://h/db", E::Scheme),
        ("postgres://u:p@h:54x2/db", E::PortNotNumber),
        ("postgres://u:p@h:0/db", E::PortNotNumber),
        ("postgres://u:p@h:70000/db", E::PortNotNumber),
        ("host=h port=+5", E::PortNotNumber),
        ("postgres://u:p%zz@h/db", E::Escape("password")),
        ("postgres://u:p@h/d%ff", E::Escape("database")),
        ("postgres://[::1/db", E::Bracket),
        ("postgres://[::1]x/db", E::Bracket),
        ("postgres://h%40x/db", E::HostAt),
        ("postgres://h%20x/db", E::BadHost),
        ("postgres://,h/db", E::BadHost),
        ("postgres://h/db?sslmode=maybe", E::SslMode),
        ("postgres://h/db?foo=1", E::UnknownParam(1)),
        ("postgres://h/db?sslmode=require&x", E::MissingEquals(2)),
        ("host=h passfile=/home/me/.pgpass", E::PassFile),
        ("host=h sslkey=/k.pem", E::ClientKey("sslkey")),
        ("postgres://h/db?sslpassword=x", E::ClientKey("sslpassword")),
        ("service=prod", E::ServiceFile),
        ("dbname='host=h password=x'", E::NestedConnection),
        ("postgres://h/postgresql:%2F%2Fu:p@h", E::NestedConnection),
        ("host=h password='open", E::UnterminatedQuote),
        ("host=h dbname", E::MissingEquals(2)),
        ("host=h =x", E::MissingEquals(2)),
        (
            "host=h application_name='a\tb'",
            E::ControlChar("application_name"),
        ),
        ("host=h user='a\u{7}'", E::ControlChar("user")),
    ];
    for (input, want) in cases {
        assert_eq!(pg(input).unwrap_err(), *want, "{input:?}");
    }
    assert_eq!(
        parse(DbEngine::Postgres, &[0xff, b'=']).unwrap_err(),
        E::NotUtf8
    );
    let long = format!("host=h password={}", "x".repeat(MAX_INPUT));
    assert_eq!(pg(&long).unwrap_err(), E::TooLong);
}

/// Wherever the password sits in a refused string, no error's Display or Debug quotes it
/// (nor any other part of the input).
#[test]
fn no_refusal_quotes_the_input() {
    let inputs = [
        format!("postgres://u:{CANARY}@h:bad/db"),
        format!("postgres://u:{CANARY}%zz@h/db"),
        format!("postgres://u:{CANARY}@h/db?{CANARY}=1"),
        format!("postgres://u:{CANARY}@h/db?sslmode={CANARY}"),
        format!("postgres://u:{CANARY}@h/db?passfile={CANARY}"),
        format!("postgres://u:pa/ss{CANARY}@h/db"),
        format!("postgres://{CANARY}@h x/db"),
        format!("mysql://u:{CANARY}@h/db"),
        format!("host=h password={CANARY} port={CANARY}"),
        format!("host=h password {CANARY}"),
        format!("host=h password='{CANARY}"),
        format!("host=h {CANARY}=1"),
        format!("host={CANARY}@h password=x"),
        format!("host=h password=x sslkey={CANARY}"),
        format!("host=h dbname='user=u password={CANARY}'"),
        CANARY.to_string(),
    ];
    for input in &inputs {
        let e = pg(input).unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(CANARY), "{input}: {shown}");
        assert!(!shown.contains("Canary"), "{input}: {shown}");
    }
}

mod laws {
    use super::*;
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    use proptest::prelude::*;

    fn pct(s: &str) -> String {
        utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
    }

    /// libpq's quoting: a value in single quotes, `\` and `'` escaped.
    fn quoted(s: &str) -> String {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }

    #[derive(Debug, Clone)]
    enum Host {
        Name(String),
        V6(&'static str),
        Socket(String),
    }

    impl Host {
        fn text(&self) -> &str {
            match self {
                Host::Name(s) | Host::Socket(s) => s,
                Host::V6(s) => s,
            }
        }
        fn in_url(&self) -> String {
            match self {
                Host::Name(s) => s.clone(),
                Host::V6(s) => format!("[{}]", s.replace('%', "%25")),
                Host::Socket(s) => pct(s),
            }
        }
    }

    fn arb_host() -> impl Strategy<Value = Host> {
        prop_oneof![
            "[a-z][a-z0-9.-]{0,12}".prop_map(Host::Name),
            prop::sample::select(vec!["::1", "2001:db8::5", "fe80::1%eth0"]).prop_map(Host::V6),
            "/[a-z0-9 ._:-]{1,12}".prop_map(Host::Socket),
        ]
    }

    prop_compose! {
        fn arb_conn()(
            user in "[^\\p{C}]{1,12}",
            // A unique head to look for, then anything printable.
            password in "PW[a-zA-Z0-9]{10}[^\\p{C}]{0,12}",
            host in arb_host(),
            port in 1u16..,
            db in "[^\\p{C}=]{1,12}",
            sslmode in prop::option::of(prop::sample::select(vec!["disable", "require", "verify-full"])),
            app in "[^\\p{C}]{0,10}",
        ) -> (String, String, Host, u16, String, Option<&'static str>, String) {
            (user, password, host, port, db, sslmode, app)
        }
    }

    proptest! {
        /// Law: a connection written as a URL and as key=value pairs reads as the same
        /// connection; its normalized value reads back to itself; the password is in the
        /// value only, never in the metadata or a Debug.
        #[test]
        fn both_forms_agree_and_the_value_is_a_fixed_point(
            (user, password, host, port, db, sslmode, app) in arb_conn()
        ) {
            let mut query = format!("application_name={}", pct(&app));
            let mut kv = format!(
                "host={} port={port} dbname={} user={} password={} application_name={}",
                quoted(host.text()), quoted(&db), quoted(&user), quoted(&password), quoted(&app)
            );
            if let Some(m) = sslmode {
                query.push_str(&format!("&sslmode={m}"));
                kv.push_str(&format!(" sslmode={m}"));
            }
            let url = format!(
                "postgresql://{}:{}@{}:{port}/{}?{query}",
                pct(&user), pct(&password), host.in_url(), pct(&db)
            );
            let a = pg(&url).unwrap();
            let b = pg(&kv).unwrap();
            prop_assert_eq!(&a.info, &b.info);
            prop_assert_eq!(&a.value, &b.value);
            prop_assert_eq!(&a.info.hosts, &vec![DbHost { host: Some(host.text().to_string()), port }]);
            prop_assert_eq!(a.info.user.as_deref(), Some(user.as_str()));
            prop_assert_eq!(a.info.database.as_deref(), Some(db.as_str()));
            prop_assert!(a.info.password);
            let again = parse(DbEngine::Postgres, a.value.expose()).unwrap();
            prop_assert_eq!(&again.info, &a.info);
            prop_assert_eq!(&again.value, &a.value);
            let head = &password[..12];
            let shown = format!("{a:?} {}", serde_json::to_string(&a.info).unwrap());
            prop_assert!(!shown.contains(head));
        }

        /// Law: no input makes the parser panic, and whatever it accepts reads back to itself.
        #[test]
        fn any_input_is_refused_or_read_back_the_same(input in prop::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(c) = parse(DbEngine::Postgres, &input) {
                let again = parse(DbEngine::Postgres, c.value.expose()).unwrap();
                prop_assert_eq!(again.info, c.info);
                prop_assert_eq!(again.value, c.value);
            }
        }

        /// The same, for text shaped like a connection string.
        #[test]
        fn any_url_like_text_is_refused_or_read_back_the_same(
            rest in "[a-z0-9:@/?&=%\\[\\],. '\\\\_-]{0,60}",
            url in any::<bool>(),
        ) {
            let input = if url { format!("postgres://{rest}") } else { rest };
            if let Ok(c) = pg(&input) {
                let again = parse(DbEngine::Postgres, c.value.expose()).unwrap();
                prop_assert_eq!(again.info, c.info);
                prop_assert_eq!(again.value, c.value);
            }
        }
    }
}
