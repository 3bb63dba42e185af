use super::*;

fn names(lang: Lang, text: &str) -> Vec<(String, usize)> {
    extract(lang, text)
        .into_iter()
        .map(|h| (h.name, h.line))
        .collect()
}

fn owned(expected: &[(&str, usize)]) -> Vec<(String, usize)> {
    expected.iter().map(|(n, l)| (n.to_string(), *l)).collect()
}

#[test]
fn every_pattern_compiles() {
    for table in [PYTHON, JAVASCRIPT, RUST, GO, RUBY] {
        for p in table {
            assert!(compile(p).is_some(), "{p}");
        }
    }
    for p in [JS_DESTRUCTURE, SHELL_READ, SHELL_SET, DOTENV_KEY] {
        assert!(compile(p).is_some(), "{p}");
    }
}

#[test]
fn python_reads() {
    let text = r#"import os
from os import environ, getenv
db = os.environ["DATABASE_URL"]
key = os.environ.get('STRIPE_SECRET_KEY', "x")
level = os.getenv("LOG_LEVEL")
region = environ.get("AWS_REGION")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
# os.getenv("COMMENTED_OUT")
both = getenv("A_ONE") or getenv("A_TWO")
"#;
    assert_eq!(
        names(Lang::Python, text),
        owned(&[
            ("DATABASE_URL", 3),
            ("STRIPE_SECRET_KEY", 4),
            ("LOG_LEVEL", 5),
            ("AWS_REGION", 6),
            ("DJANGO_SETTINGS_MODULE", 7),
            ("A_ONE", 9),
            ("A_TWO", 9),
        ])
    );
}

#[test]
fn javascript_and_typescript_reads() {
    let text = r#"const key = process.env.OPENAI_API_KEY;
const url = process.env["REDIS_URL"] ?? process.env['CACHE_TTL'];
const base = import.meta.env.VITE_API_BASE;
const token = Deno.env.get("DENO_DEPLOY_TOKEN");
// process.env.NOT_THIS
const { PORT, SENTRY_DSN: dsn, NODE_ENV = "dev" } = process.env;
const b = Bun.env.BUN_THING;
"#;
    assert_eq!(
        names(Lang::Javascript, text),
        owned(&[
            ("OPENAI_API_KEY", 1),
            ("REDIS_URL", 2),
            ("CACHE_TTL", 2),
            ("VITE_API_BASE", 3),
            ("DENO_DEPLOY_TOKEN", 4),
            ("PORT", 6),
            ("SENTRY_DSN", 6),
            ("NODE_ENV", 6),
            ("BUN_THING", 7),
        ])
    );
}

#[test]
fn rust_reads_without_cargos_own_variables() {
    let text = r#"let token = std::env::var("GITHUB_TOKEN")?;
let home = env::var_os("SHOP_HOME");
const BUILT: &str = env!("SHOP_BUILD_ID");
const V: &str = env!("CARGO_PKG_VERSION");
let opt = option_env!("SHOP_FEATURE_FLAGS");
// env::var("NOPE")
"#;
    assert_eq!(
        names(Lang::Rust, text),
        owned(&[
            ("GITHUB_TOKEN", 1),
            ("SHOP_HOME", 2),
            ("SHOP_BUILD_ID", 3),
            ("SHOP_FEATURE_FLAGS", 5),
        ])
    );
}

#[test]
fn go_reads() {
    let text = r#"dsn := os.Getenv("POSTGRES_DSN")
if v, ok := os.LookupEnv("LISTEN_ADDR"); ok {
// os.Getenv("NOPE")
"#;
    assert_eq!(
        names(Lang::Go, text),
        owned(&[("POSTGRES_DSN", 1), ("LISTEN_ADDR", 2)])
    );
}

#[test]
fn ruby_reads() {
    let text = r#"Stripe.api_key = ENV["STRIPE_API_KEY"]
host = ENV.fetch('SMTP_HOST', 'localhost')
if ENV.key?("FEATURE_X")
# ENV["NOPE"]
"#;
    assert_eq!(
        names(Lang::Ruby, text),
        owned(&[("STRIPE_API_KEY", 1), ("SMTP_HOST", 2), ("FEATURE_X", 3)])
    );
}

#[test]
fn shell_reads_only_configuration_looking_names_the_script_does_not_set() {
    let text = r#"#!/bin/sh
set -eu
OUT_DIR=/tmp/out
export BUILD_TAG=v1
for FILE_NAME in *.txt; do echo "$FILE_NAME"; done
curl -H "Authorization: Bearer ${DEPLOY_TOKEN}" "$API_BASE_URL/deploy"
echo "$HOME $PATH $USER $1 $lower_case $X $BUILD_TAG $OUT_DIR"
echo "\$ESCAPED_VAR $$"
psql "$DATABASE_URL" -c 'select 1' # $IN_A_COMMENT_TOO
# echo $COMMENTED_LINE
"#;
    assert_eq!(
        names(Lang::Shell, text),
        owned(&[
            ("DEPLOY_TOKEN", 6),
            ("API_BASE_URL", 6),
            ("DATABASE_URL", 9),
        ])
    );
}

#[test]
fn shell_config_names() {
    for name in ["DATABASE_URL", "APIKEY", "DEPLOY_TOKEN", "SMTPHOST"] {
        assert!(shell_config_name(name), "{name}");
    }
    for name in [
        "PATH",
        "HOME",
        "X",
        "lower_case",
        "LC_ALL",
        "XDG_RUNTIME_DIR",
        "_",
    ] {
        assert!(!shell_config_name(name), "{name}");
    }
}

#[test]
fn env_example_keys_never_values() {
    let text = "# comment\nDATABASE_URL=postgres://localhost/shop\nexport API_TOKEN=\n  SPACED_KEY = x\nnot a line\n=novalue\nVALUE_IS_KEYLIKE=OTHER_NAME=1\n";
    assert_eq!(
        names(Lang::EnvExample, text),
        owned(&[
            ("DATABASE_URL", 2),
            ("API_TOKEN", 3),
            ("SPACED_KEY", 4),
            ("VALUE_IS_KEYLIKE", 7),
        ])
    );
}
