//! Which names are a project's secrets, which are ordinary configuration, and which belong
//! to the system rather than the project. Decided from the name alone: scaffold never sees
//! a value.

/// Variables the system, the shell or a CI runner sets: reading one is not configuring the
/// project, so scaffold leaves them out (and says which in a note).
const SYSTEM: &[&str] = &[
    "PATH",
    "HOME",
    "PWD",
    "OLDPWD",
    "USER",
    "LOGNAME",
    "SHELL",
    "TERM",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "TEMP",
    "TMP",
    "HOSTNAME",
    "HOST",
    "UID",
    "EUID",
    "GID",
    "PPID",
    "IFS",
    "PS1",
    "PS2",
    "PS4",
    "RANDOM",
    "SECONDS",
    "LINENO",
    "SHLVL",
    "EDITOR",
    "VISUAL",
    "PAGER",
    "DISPLAY",
    "COLUMNS",
    "LINES",
    "MAIL",
    "OSTYPE",
    "HOSTTYPE",
    "MACHTYPE",
    "CI",
    "NO_COLOR",
    "FORCE_COLOR",
    "COLORTERM",
    "SSH_AUTH_SOCK",
    "SSH_AGENT_PID",
    "SSH_CONNECTION",
    "SSH_CLIENT",
    "SSH_TTY",
    "DEBIAN_FRONTEND",
    "SUDO_USER",
    "XAUTHORITY",
    "HISTFILE",
    "HISTSIZE",
    "PROMPT_COMMAND",
    "GOPATH",
    "GOROOT",
    "GOOS",
    "GOARCH",
    "CARGO_HOME",
    "RUSTUP_HOME",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "NODE_PATH",
    "GEM_HOME",
    "GEM_PATH",
    "BUNDLE_GEMFILE",
    "RUNNER_OS",
    "RUNNER_TEMP",
];

/// Prefixes of system and runner variables (`LC_ALL`, `XDG_CONFIG_HOME`, `GITHUB_SHA`…).
/// `GITHUB_TOKEN` is the exception: a project's scripts often need one outside CI too.
const SYSTEM_PREFIXES: &[&str] = &[
    "LC_", "XDG_", "BASH_", "ZSH_", "GITHUB_", "RUNNER_", "DBUS_",
];

pub fn is_system(name: &str) -> bool {
    if name == "GITHUB_TOKEN" {
        return false;
    }
    SYSTEM.contains(&name) || SYSTEM_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Words that make a name a credential wherever they stand (`STRIPE_SECRET_KEY`,
/// `DB_PASSWORD`, `SENTRY_DSN`, `APIKEY`).
const SECRET_WORDS: &[&str] = &[
    "KEY",
    "KEYS",
    "APIKEY",
    "TOKEN",
    "TOKENS",
    "SECRET",
    "SECRETS",
    "PASSWORD",
    "PASSWD",
    "PASS",
    "PWD",
    "PASSPHRASE",
    "DSN",
    "CREDENTIAL",
    "CREDENTIALS",
    "CREDS",
    "SALT",
    "PEPPER",
];

/// First words of a connection string that holds its password (`DATABASE_URL`,
/// `REDIS_URL`, `MONGODB_URI`).
const CONNECTION_WORDS: &[&str] = &[
    "DATABASE",
    "DB",
    "POSTGRES",
    "POSTGRESQL",
    "PG",
    "MYSQL",
    "MARIADB",
    "REDIS",
    "MONGO",
    "MONGODB",
    "AMQP",
    "RABBITMQ",
    "BROKER",
    "CELERY",
    "ELASTICSEARCH",
    "KAFKA",
    "SQLALCHEMY",
];

/// Whether the name says it holds a secret. Words are compared whole (split at `_`), so
/// `KEYBOARD_LAYOUT` and `PASSTHROUGH` are not secrets, `STRIPE_SECRET_KEY` and `PGPASSWORD`
/// (as the suffix `PASSWORD`) are.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let words: Vec<&str> = upper.split('_').filter(|w| !w.is_empty()).collect();
    if words.iter().any(|w| SECRET_WORDS.contains(w)) {
        return true;
    }
    // Glued forms: `PGPASSWORD`, `APITOKEN`, `MYSQL_ROOTPASSWORD`.
    if words.iter().any(|w| {
        ["PASSWORD", "TOKEN", "SECRET", "APIKEY"]
            .iter()
            .any(|s| w.ends_with(s))
    }) {
        return true;
    }
    let address = words
        .last()
        .is_some_and(|w| matches!(*w, "URL" | "URI" | "DSN" | "CONN" | "CONNECTION"));
    address && words.iter().any(|w| CONNECTION_WORDS.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_by_whole_words_and_connection_strings() {
        for name in [
            "STRIPE_SECRET_KEY",
            "OPENAI_API_KEY",
            "DB_PASSWORD",
            "PGPASSWORD",
            "SENTRY_DSN",
            "GITHUB_TOKEN",
            "DATABASE_URL",
            "REDIS_URL",
            "MONGODB_URI",
            "JWT_SIGNING_KEY",
            "session_secret",
        ] {
            assert!(looks_secret(name), "{name}");
        }
        for name in [
            "PORT",
            "NODE_ENV",
            "LOG_LEVEL",
            "KEYBOARD_LAYOUT",
            "PASSTHROUGH_MODE",
            "API_BASE_URL",
            "PUBLIC_SITE_URL",
            "REGION",
        ] {
            assert!(!looks_secret(name), "{name}");
        }
    }

    #[test]
    fn system_variables_are_not_the_projects() {
        for name in [
            "PATH",
            "HOME",
            "LC_ALL",
            "XDG_CONFIG_HOME",
            "GITHUB_SHA",
            "CI",
        ] {
            assert!(is_system(name), "{name}");
        }
        for name in ["GITHUB_TOKEN", "DATABASE_URL", "HOME_PAGE_URL"] {
            assert!(!is_system(name), "{name}");
        }
    }
}
