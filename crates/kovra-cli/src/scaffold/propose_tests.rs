use super::*;
use kovra_core::envrefs::{self, RefValue};

fn found(name: &str, file: &str, line: usize, lang: Lang, marked_secret: bool) -> Found {
    Found {
        name: name.into(),
        file: file.into(),
        line,
        lang,
        marked_secret,
        occurrences: 1,
    }
}

fn opts() -> Options {
    Options {
        root: "/src/shop".into(),
        env: "dev".into(),
        group: "shop".into(),
        project: None,
    }
}

fn scan() -> Scan {
    Scan {
        found: vec![
            found("DB_PASSWORD", "app.py", 3, Lang::Python, false),
            found(
                "DEPLOY_HOOK",
                ".github/workflows/ci.yml",
                9,
                Lang::GithubActions,
                true,
            ),
            found("OPENAI_API_KEY", "src/ai.ts", 1, Lang::Javascript, false),
            found("PORT", "main.go", 7, Lang::Go, false),
            found("SHOP_DB", "app.rb", 2, Lang::Ruby, false),
            found("STRIPE_SECRET_KEY", "app.py", 4, Lang::Python, false),
        ],
        files_read: 5,
        env_files_skipped: vec![".env".into()],
        system: ["HOME".to_string()].into_iter().collect(),
    }
}

fn known() -> Known {
    let c = |s: &str| Coordinate::parse(s).unwrap();
    Known {
        records: vec![
            (
                c("secret:staging/db/db_password"),
                "global".into(),
                RecordKind::Secret,
            ),
            (
                c("secret:dev/db/db_password"),
                "global".into(),
                RecordKind::Secret,
            ),
            (
                c("secret:dev/data/shop_db"),
                "global".into(),
                RecordKind::Postgres,
            ),
        ],
        claims: [("OPENAI_API_KEY".to_string(), "openai".to_string())]
            .into_iter()
            .collect(),
        unavailable: None,
    }
}

fn var<'a>(p: &'a Proposal, name: &str) -> &'a Variable {
    p.variables.iter().find(|v| v.name == name).unwrap()
}

#[test]
fn each_kind_of_name_gets_its_line() {
    let p = propose(&scan(), &known(), &opts());
    // An existing record, in the chosen environment first.
    assert_eq!(var(&p, "DB_PASSWORD").value, "secret:${ENV}/db/db_password");
    assert!(matches!(
        &var(&p, "DB_PASSWORD").mapping,
        Mapping::Existing { coordinate, .. } if coordinate == "secret:dev/db/db_password"
    ));
    // A connection record goes through kovra's proxy.
    assert_eq!(var(&p, "SHOP_DB").value, "secret:${ENV}/data/shop_db#url");
    // A provider's claim decides the group.
    let openai = var(&p, "OPENAI_API_KEY");
    assert_eq!(openai.value, "secret:${ENV}/openai/openai_api_key");
    assert_eq!(openai.provider.as_deref(), Some("openai"));
    // A workflow secret is a secret whatever its name.
    assert_eq!(
        var(&p, "DEPLOY_HOOK").value,
        "secret:${ENV}/shop/deploy_hook"
    );
    assert_eq!(var(&p, "STRIPE_SECRET_KEY").class, "secret");
    // Configuration is a commented pass-through.
    let port = var(&p, "PORT");
    assert!(port.commented);
    assert_eq!(port.class, "config");
    assert!(p.refs.contains("# PORT=${env:PORT}\n"), "{}", p.refs);
    assert!(p.refs.contains("# PORT: main.go:7 (go); passed through\n"));
    assert!(p.refs.contains(
        "# DB_PASSWORD: app.py:3 (python); existing record secret:dev/db/db_password (global)\n"
    ));
    assert!(p.refs.contains("# note: .env skipped"));
    assert!(p.refs.contains("# note: system variables left out: HOME\n"));
    assert_eq!(counts(&p), (5, 2, 1));
}

#[test]
fn a_record_of_another_environment_lends_its_group_and_says_so() {
    let mut o = opts();
    o.env = "prod".into();
    let p = propose(&scan(), &known(), &o);
    assert_eq!(var(&p, "DB_PASSWORD").value, "secret:${ENV}/db/db_password");
    assert!(
        p.refs
            .contains("existing record secret:staging/db/db_password (global); none in prod yet\n"),
        "{}",
        p.refs
    );
}

#[test]
fn the_proposal_parses_as_a_refs_file() {
    let mut o = opts();
    o.project = Some("shop".into());
    let p = propose(&scan(), &known(), &o);
    let parsed = envrefs::parse(".env.refs", &p.refs).unwrap();
    assert_eq!(parsed.env.as_deref(), Some("dev"));
    assert_eq!(parsed.project.as_deref(), Some("shop"));
    let live: Vec<&str> = parsed.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        live,
        vec![
            "DB_PASSWORD",
            "DEPLOY_HOOK",
            "OPENAI_API_KEY",
            "SHOP_DB",
            "STRIPE_SECRET_KEY"
        ]
    );
    assert!(
        parsed
            .entries
            .iter()
            .all(|e| matches!(e.value, RefValue::Secret { .. }))
    );
}

#[test]
fn a_vault_not_consulted_is_said() {
    let k = Known {
        unavailable: Some("vault-locked: the vault is locked".into()),
        ..Known::default()
    };
    let p = propose(&scan(), &k, &opts());
    assert!(
        p.refs
            .contains("# note: the vault was not consulted (vault-locked")
    );
    assert!(envrefs::parse(".env.refs", &p.refs).is_ok());
}

#[test]
fn nothing_found_still_parses() {
    let p = propose(&Scan::default(), &Known::default(), &opts());
    assert!(p.refs.contains("no environment read was found"));
    assert!(
        envrefs::parse(".env.refs", &p.refs)
            .unwrap()
            .entries
            .is_empty()
    );
}

#[test]
fn default_groups() {
    assert_eq!(default_group(Some("Shop")), "shop");
    assert_eq!(default_group(Some("my shop!")), "my-shop");
    assert_eq!(default_group(Some("--")), "app");
    assert_eq!(default_group(None), "app");
}
