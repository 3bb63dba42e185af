//! Database connection records: a connection string held as the record's sealed value, and
//! what is public about it (engine, hosts, ports, database, user, TLS mode, other settings)
//! kept in the record's (authenticated) metadata, so `list`, `show` and an agent can reason
//! about where a record connects without opening it.
//!
//! The sealed value is the whole connection, normalized to one URL with its password, so the
//! daemon can rebuild the connection from the value alone (and `reveal` gives a human what
//! `psql` takes). The metadata is derived from it on `add` and again on every `set`.
//!
//! Design for more engines: one metadata shape ([`DbConnInfo`], with an [`DbEngine`] field)
//! and one record kind per engine (`postgres`, later `mysql`). The shape is what every engine
//! has (hosts, port, database, user, TLS mode); the kind is what a listing says, so an agent
//! knows which client and which proxy a record needs without a second lookup. MySQL adds a
//! variant and a parser, no new metadata field or wire flag beside `postgres`.
//!
//! No error here ever echoes input: a connection string carries a password, and a string
//! pasted in the wrong place must not end up in an error, a log or a terminal. Errors name
//! the field (or the parameter's position), never its content.

use std::collections::BTreeMap;
use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::secret::SecretBytes;

mod postgres;
#[cfg(test)]
mod tests;

/// The longest connection string read, in bytes (libpq's are a few hundred).
pub const MAX_INPUT: usize = 8 * 1024;

/// Which database a connection record is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DbEngine {
    Postgres,
}

impl DbEngine {
    pub fn as_str(self) -> &'static str {
        match self {
            DbEngine::Postgres => "postgres",
        }
    }

    /// The port a host without one is reached on.
    pub fn default_port(self) -> u16 {
        match self {
            DbEngine::Postgres => 5432,
        }
    }
}

impl fmt::Display for DbEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One server a connection tries, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbHost {
    /// A host name, an IP address, or a Unix socket directory (`/var/run/postgresql`).
    /// Absent: the engine's default local socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub port: u16,
}

/// What a record's metadata says about its connection: everything but the password. Set
/// exactly on connection records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbConnInfo {
    pub engine: DbEngine,
    /// At least one; tried in order, as libpq does with a host list.
    pub hosts: Vec<DbHost>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The TLS mode in the engine's own spelling (`sslmode` for Postgres).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sslmode: Option<String>,
    /// Every other parameter given, by its engine's name (`application_name`,
    /// `connect_timeout`, …). Only parameters known to be public are accepted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// Whether the sealed value holds a password (a connection may use peer or certificate
    /// authentication instead).
    pub password: bool,
}

/// Why a connection string was refused. None carries input; a position or a field name at
/// most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DbConnError {
    #[error("the connection string is empty")]
    Empty,
    #[error("the connection string is longer than {MAX_INPUT} bytes")]
    TooLong,
    #[error("the connection string is not UTF-8 text")]
    NotUtf8,
    #[error("the input is neither a postgres:// URL nor key=value parameters")]
    NotConnectionString,
    #[error("the URL's scheme is not postgres:// or postgresql://")]
    Scheme,
    #[error("the URL's {0} has a malformed percent-escape, or is not UTF-8 once decoded")]
    Escape(&'static str),
    #[error("a port is not a number from 1 to 65535")]
    PortNotNumber,
    #[error("there are {ports} ports for {hosts} hosts; give one port, or one per host")]
    PortCount { ports: usize, hosts: usize },
    #[error("a host has an `@` in it; an `@` in the user or password is written %40")]
    HostAt,
    #[error("an IPv6 host has no closing `]`, or text after it that is not `:PORT`")]
    Bracket,
    #[error(
        "a host is neither a name, an IP address ([brackets] around IPv6) nor a socket directory"
    )]
    BadHost,
    #[error("parameter {0} has no `=`")]
    MissingEquals(usize),
    #[error("a quoted value has no closing quote")]
    UnterminatedQuote,
    #[error("parameter {0} is not a libpq connection parameter")]
    UnknownParam(usize),
    #[error(
        "`passfile` names a password file outside the vault; put the password in the connection string (kovra seals it)"
    )]
    PassFile,
    #[error(
        "`{0}` is refused: client certificate keys are not held by connection records yet, and a key file outside the vault is not kovra's to guard"
    )]
    ClientKey(&'static str),
    #[error(
        "`service` reads pg_service.conf outside the vault; give host, port, dbname and user instead"
    )]
    ServiceFile,
    #[error(
        "the database name looks like a connection string (libpq would expand it); give its parts as parameters"
    )]
    NestedConnection,
    #[error("the sslmode is not one of disable, allow, prefer, require, verify-ca, verify-full")]
    SslMode,
    #[error("the {0} has a control character")]
    ControlChar(&'static str),
}

/// A connection read here: its sealed-to-be value and its public metadata.
pub struct Connection {
    /// The normalized URL, password included (what the record's value holds).
    pub value: SecretBytes,
    pub info: DbConnInfo,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("value", &self.value)
            .field("info", &self.info)
            .finish()
    }
}

/// Read a connection string for `engine` (pasted at a prompt or piped on stdin; surrounding
/// whitespace ignored). Pure: nothing is resolved or connected to.
pub fn parse(engine: DbEngine, input: &[u8]) -> Result<Connection, DbConnError> {
    if input.len() > MAX_INPUT {
        return Err(DbConnError::TooLong);
    }
    let text = std::str::from_utf8(input).map_err(|_| DbConnError::NotUtf8)?;
    let text = text.trim();
    if text.is_empty() {
        return Err(DbConnError::Empty);
    }
    let conn = match engine {
        DbEngine::Postgres => postgres::parse(text)?,
    };
    // Escaping can lengthen it: what is sealed must read back as it was.
    if conn.value.len() > MAX_INPUT {
        return Err(DbConnError::TooLong);
    }
    Ok(conn)
}

/// What a URL component keeps unescaped: RFC 3986's unreserved characters.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `postgresql://user:password@host:port,…/database?param=value&…`, every part escaped, so
/// libpq, tokio-postgres and psql read it back as the same connection. The public parts are
/// built first, so the buffer holding the password is allocated once at its final size: a
/// growing `String` would leave copies of it in freed memory that `Zeroizing` never wipes.
fn postgres_url(info: &DbConnInfo, password: Option<&str>) -> Zeroizing<String> {
    let enc = |s: &str| utf8_percent_encode(s, COMPONENT).to_string();
    let user = info.user.as_deref().map(enc).unwrap_or_default();
    let mut socket_ports = Vec::new();
    let hosts: Vec<String> = info
        .hosts
        .iter()
        .filter_map(|h| match &h.host {
            Some(host) if host.contains(':') && !host.starts_with('/') => {
                Some(format!("[{}]:{}", host.replace('%', "%25"), h.port))
            }
            Some(host) => Some(format!("{}:{}", enc(host), h.port)),
            None => {
                socket_ports.push(h.port);
                None
            }
        })
        .collect();
    let mut rest = hosts.join(",");
    rest.push('/');
    if let Some(db) = &info.database {
        rest.push_str(&enc(db));
    }
    let mut query: Vec<String> = Vec::new();
    // A default-socket host has no URL spelling: it is an empty host, with its port in
    // the query (only the one-host case can arise; see `postgres::finish`).
    if let Some(port) = socket_ports.first() {
        query.push(format!("port={port}"));
    }
    if let Some(mode) = &info.sslmode {
        query.push(format!("sslmode={}", enc(mode)));
    }
    for (k, v) in &info.params {
        query.push(format!("{k}={}", enc(v)));
    }
    if !query.is_empty() {
        rest.push('?');
        rest.push_str(&query.join("&"));
    }
    const SCHEME: &str = "postgresql://";
    let escaped = |p: &str| -> usize { utf8_percent_encode(p, COMPONENT).map(str::len).sum() };
    let secret_len = password.map_or(0, |p| 1 + escaped(p));
    let at = usize::from(info.user.is_some() || password.is_some());
    let mut url = Zeroizing::new(String::with_capacity(
        SCHEME.len() + user.len() + secret_len + at + rest.len(),
    ));
    url.push_str(SCHEME);
    url.push_str(&user);
    if let Some(password) = password {
        url.push(':');
        url.extend(utf8_percent_encode(password, COMPONENT));
    }
    if info.user.is_some() || password.is_some() {
        url.push('@');
    }
    url.push_str(&rest);
    url
}
