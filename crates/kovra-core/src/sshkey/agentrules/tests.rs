use super::*;
use crate::model::VaultName;

const HOST: &str = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const OTHER: &str = "SHA256:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

fn coord(text: &str) -> Coordinate {
    Coordinate::parse(text).unwrap()
}

#[test]
fn a_full_file_parses() {
    let text = format!(
        r#"
projects = ["global", "shop"]
environments = ["dev", "staging"]

[keys."secret:dev/ssh/deploy"]
confirm = "every-signature"
hosts = ["{HOST}"]

[keys."{OTHER}"]
confirm = "once-per-session"
"#
    );
    let rules = parse(&text).unwrap();
    assert_eq!(rules.keys.len(), 2);
    let scope = rules.scope();
    assert!(scope.addresses(&VaultName::Global, "dev", false));
    assert!(scope.addresses(&VaultName::Project("shop".into()), "staging", false));
    assert!(!scope.addresses(&VaultName::Project("blog".into()), "dev", false));
    assert!(!scope.addresses(&VaultName::Global, "prod", true));
    let rule = rules.rule_for(&coord("secret:dev/ssh/deploy"), OTHER);
    // Both rules name it: the stricter confirmation, the first rule's hosts.
    assert_eq!(rule.confirm, Some(Confirm::EverySignature));
    assert_eq!(rule.hosts, Some(vec![HOST.to_string()]));
    assert_eq!(
        rules.rule_for(&coord("secret:dev/ssh/other"), HOST),
        KeyRule::default()
    );
}

#[test]
fn an_empty_file_is_no_rule() {
    let rules = parse("").unwrap();
    assert_eq!(rules, AgentRules::default());
    assert!(rules.scope().is_full());
}

#[test]
fn errors_name_the_line_or_field_and_never_echo_the_file() {
    let cases = [
        ("projects = [\"shop\"]\nconfirm = \"never\"\n", "line 2"),
        (
            "[keys.\"secret:dev/ssh/a\"]\nconfirm = \"sometimes\"\n",
            "line 2",
        ),
        ("[keys.\"secret:dev/ssh/a\"]\nhost = []\n", "line 2"),
        ("projects = [\"Not A Name\"]\n", "projects: `Not A Name`"),
        ("environments = [\"a/b\"]\n", "environments"),
        (
            "[keys.\"github\"]\nconfirm = \"never\"\n",
            "keys.\"github\"",
        ),
        (
            "[keys.\"secret://global/dev/ssh/a\"]\nconfirm = \"never\"\n",
            "without a vault",
        ),
        (
            "[keys.\"secret:dev/ssh/a\"]\nhosts = [\"github.com\"]\n",
            "keys.\"secret:dev/ssh/a\".hosts",
        ),
    ];
    for (text, want) in cases {
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains(want), "{text:?}: {err}");
    }
    // A line that is not TOML is located, not quoted.
    let err = parse("projects = [\"a\"]\nPRIVATE-KEY-LINE-ZZZ\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2"), "{err}");
    assert!(!err.contains("PRIVATE-KEY-LINE-ZZZ"), "{err}");
    assert!(parse(&"#".repeat(MAX_BYTES + 1)).is_err());
}

#[test]
fn the_effective_rules_are_what_both_allow() {
    let accepted = parse(&format!(
        "projects = [\"global\", \"shop\"]\n[keys.\"secret:dev/ssh/a\"]\nconfirm = \"never\"\nhosts = [\"{HOST}\", \"{OTHER}\"]\n"
    ))
    .unwrap();
    let file = parse(&format!(
        "projects = [\"shop\", \"blog\"]\nenvironments = [\"dev\"]\n[keys.\"secret:dev/ssh/a\"]\nconfirm = \"once-per-session\"\nhosts = [\"{OTHER}\"]\n"
    ))
    .unwrap();
    let e = effective(Some(&accepted), Some(&file));
    assert_eq!(e.projects, Some(["shop".to_string()].into()));
    assert_eq!(e.environments, Some(["dev".to_string()].into()));
    let rule = &e.keys["secret:dev/ssh/a"];
    assert_eq!(rule.confirm, Some(Confirm::OncePerSession));
    assert_eq!(rule.hosts, Some(vec![OTHER.to_string()]));
    // A missing side contributes nothing.
    assert_eq!(effective(None, Some(&file)), file);
    assert_eq!(effective(Some(&accepted), None), accepted);
    assert_eq!(effective(None, None), AgentRules::default());
    // Deleting a restriction from the file does not lift the accepted one.
    let widened = parse("").unwrap();
    let e = effective(Some(&accepted), Some(&widened));
    assert!(
        !e.scope()
            .addresses_vault(&VaultName::Project("blog".into()))
    );
}

#[test]
fn changes_list_what_accepting_would_change() {
    let file =
        parse("projects = [\"shop\"]\n[keys.\"secret:dev/ssh/a\"]\nconfirm = \"never\"\n").unwrap();
    let lines = changes(None, &file);
    assert_eq!(
        lines,
        vec![
            "projects: all -> shop".to_string(),
            "key secret:dev/ssh/a: (no rule) -> confirm never".to_string(),
        ]
    );
    assert!(changes(Some(&file), &file).is_empty());
}

#[test]
fn accepted_rules_round_trip_as_json() {
    let file = parse(&format!(
        "environments = [\"dev\"]\n[keys.\"{HOST}\"]\nhosts = []\n"
    ))
    .unwrap();
    let json = serde_json::to_string(&file).unwrap();
    assert_eq!(serde_json::from_str::<AgentRules>(&json).unwrap(), file);
}
