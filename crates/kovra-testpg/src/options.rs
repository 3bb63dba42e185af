//! What a test asks of its server: the database, the roles that log in to it, whether TCP
//! connections must use TLS, and settings.

use std::fmt;

/// A role's name and password. `Debug` does not print the password: a test that plants a
/// canary as a password can still `{:?}` a `Pg` in a failure message.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("user", &self.user)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// What a role may do in the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Owns the database, so it may create tables in its `public` schema (PostgreSQL 15 no
    /// longer lets every role create there).
    Owner,
    /// Reads every table (`pg_read_all_data`) and starts every transaction read-only.
    ReadOnly,
    /// Logs in; nothing granted beyond what `PUBLIC` has.
    Plain,
}

/// A login role the server creates after it starts.
#[derive(Clone, Debug)]
pub struct Role {
    pub(crate) login: Login,
    pub(crate) access: Access,
    pub(crate) settings: Vec<(String, String)>,
}

impl Role {
    /// The database's owner (at most one per server).
    pub fn owner(user: &str, password: &str) -> Role {
        Role::new(user, password, Access::Owner)
    }

    /// A role that reads everything and writes nothing.
    pub fn read_only(user: &str, password: &str) -> Role {
        Role::new(user, password, Access::ReadOnly)
    }

    /// A role that only logs in.
    pub fn login(user: &str, password: &str) -> Role {
        Role::new(user, password, Access::Plain)
    }

    fn new(user: &str, password: &str, access: Access) -> Role {
        Role {
            login: Login {
                user: user.to_string(),
                password: password.to_string(),
            },
            access,
            settings: Vec::new(),
        }
    }

    /// A setting in force in every session of this role (`ALTER ROLE … SET name = 'value'`),
    /// e.g. `statement_timeout`.
    pub fn setting(mut self, name: &str, value: &str) -> Role {
        assert_setting_name(name);
        self.settings.push((name.to_string(), value.to_string()));
        self
    }
}

/// The server a test wants. The default: database `kovra` owned by the superuser, no other
/// role, TCP only over TLS (`hostssl`).
#[derive(Clone, Debug)]
pub struct PgOptions {
    pub(crate) database: String,
    pub(crate) roles: Vec<Role>,
    pub(crate) tls_only: bool,
    pub(crate) settings: Vec<(String, String)>,
}

impl Default for PgOptions {
    fn default() -> PgOptions {
        PgOptions {
            database: "kovra".to_string(),
            roles: Vec::new(),
            tls_only: true,
            settings: Vec::new(),
        }
    }
}

impl PgOptions {
    /// The database the roles use (created at start; `postgres` also exists).
    pub fn database(mut self, name: &str) -> PgOptions {
        self.database = name.to_string();
        self
    }

    /// One more login role.
    pub fn role(mut self, role: Role) -> PgOptions {
        self.roles.push(role);
        self
    }

    /// Accept TCP connections without TLS too (`host` rather than `hostssl` lines); TLS is
    /// still offered.
    pub fn allow_plaintext(mut self) -> PgOptions {
        self.tls_only = false;
        self
    }

    /// A server setting (`postgres -c name=value`), after and so over this crate's own.
    pub fn setting(mut self, name: &str, value: &str) -> PgOptions {
        assert_setting_name(name);
        self.settings.push((name.to_string(), value.to_string()));
        self
    }
}

/// Setting names go into SQL unquoted: letters, digits, `_` and `.` only.
fn assert_setting_name(name: &str) {
    assert!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'),
        "not a setting name: {name:?}"
    );
}
