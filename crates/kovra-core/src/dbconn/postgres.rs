//! libpq connection strings (`postgres://` URLs and `key=value` parameters), read by hand.
//!
//! Why not `tokio_postgres::Config` (which implements `FromStr` and parses without
//! connecting): kovra-core opens no socket and must not pull in an async client and its
//! runtime for a parser; `Config` keeps the password in a `Debug`-printing struct, and its
//! parse errors may quote the input; and it drops parameters it does not use, while a record
//! has to refuse the ones that point outside the vault (`passfile`, `sslkey`, `service`) and
//! keep the rest visible. The grammar is small: libpq's own documentation (§ 34.1.1) is
//! what is followed, with RFC 3986 for the URL's authority (its `@` is the last one, so a
//! password with an unescaped `@` still reads as the user meant).
//!
//! Every value is held in `Zeroizing` until it is known not to be the password.

use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;
use zeroize::Zeroizing;

use super::{Connection, DbConnError, DbConnInfo, DbEngine, DbHost, postgres_url};
use crate::secret::SecretBytes;

/// The parameters libpq knows (PostgreSQL 18) that a record keeps in its public metadata,
/// beside the ones [`Parts::set`] treats itself.
const PUBLIC: &[&str] = &[
    "hostaddr",
    "require_auth",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "replication",
    "gssencmode",
    "sslnegotiation",
    "sslcompression",
    "sslcert",
    "sslcertmode",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "min_protocol_version",
    "max_protocol_version",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "target_session_attrs",
    "load_balance_hosts",
];

/// libpq's TLS modes.
const SSL_MODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

type Value = Zeroizing<String>;

/// The parameters read so far, by libpq's name (a later one replaces an earlier one, as in
/// libpq). Keys are this module's own static names, never input.
#[derive(Default)]
struct Parts {
    host: Option<Value>,
    port: Option<Value>,
    dbname: Option<Value>,
    user: Option<Value>,
    password: Option<Value>,
    sslmode: Option<Value>,
    params: BTreeMap<&'static str, Value>,
}

impl Parts {
    /// Take parameter number `index` (1-based, for errors).
    fn set(&mut self, key: &str, value: Value, index: usize) -> Result<(), DbConnError> {
        let slot = match key {
            "host" => &mut self.host,
            "port" => &mut self.port,
            "dbname" => &mut self.dbname,
            "user" => &mut self.user,
            "password" => &mut self.password,
            "sslmode" => &mut self.sslmode,
            // libpq takes JDBC's `ssl=true` as `sslmode=require`.
            "ssl" if value.as_str() == "true" => {
                self.sslmode = Some(Zeroizing::new("require".into()));
                return Ok(());
            }
            "passfile" => return Err(DbConnError::PassFile),
            "sslkey" => return Err(DbConnError::ClientKey("sslkey")),
            "sslpassword" => return Err(DbConnError::ClientKey("sslpassword")),
            "service" => return Err(DbConnError::ServiceFile),
            _ => {
                let Some(name) = PUBLIC.iter().find(|k| **k == key) else {
                    return Err(DbConnError::UnknownParam(index));
                };
                self.params.insert(name, value);
                return Ok(());
            }
        };
        *slot = Some(value);
        Ok(())
    }
}

/// Read `text` (trimmed, not empty) as a URL or as `key=value` parameters.
pub(super) fn parse(text: &str) -> Result<Connection, DbConnError> {
    let parts = if let Some(rest) = text
        .strip_prefix("postgresql://")
        .or_else(|| text.strip_prefix("postgres://"))
    {
        url(rest)?
    } else if foreign_scheme(text) {
        return Err(DbConnError::Scheme);
    } else if text.contains('=') {
        key_values(text)?
    } else {
        return Err(DbConnError::NotConnectionString);
    };
    finish(parts)
}

/// Whether `text` is a URL of another scheme (`mysql://…`, `jdbc:postgresql://…`): it has a
/// `://` with no `=` before it. `key=value` parameters always have one there, so a `://`
/// inside a value (`dbname='://'`) leaves them parameters.
fn foreign_scheme(text: &str) -> bool {
    text.split_once("://")
        .is_some_and(|(head, _)| !head.contains('='))
}

fn decode(s: &str, part: &'static str) -> Result<Value, DbConnError> {
    // Sized once (decoding only shortens): a growing buffer would leave copies behind.
    let mut bytes = Zeroizing::new(Vec::with_capacity(s.len()));
    bytes.extend(percent_decode_str(s));
    if s.contains('%') && !well_escaped(s) {
        return Err(DbConnError::Escape(part));
    }
    std::str::from_utf8(&bytes)
        .map(|t| Zeroizing::new(t.to_string()))
        .map_err(|_| DbConnError::Escape(part))
}

/// Whether every `%` starts a two-hex-digit escape (percent_decode passes bad ones through).
fn well_escaped(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().all(|(i, &c)| {
        c != b'%'
            || (b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

/// `[user[:password]@][host[:port][,…]][/dbname][?param=value&…]`, after the scheme.
fn url(rest: &str) -> Result<Parts, DbConnError> {
    let mut parts = Parts::default();
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let hosts = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                parts.user = Some(decode(user, "user")?);
            }
            if let Some(p) = password {
                parts.password = Some(decode(p, "password")?);
            }
            &authority[at + 1..]
        }
        None => authority,
    };
    if !hosts.is_empty() {
        let mut names = Vec::new();
        let mut ports = Vec::new();
        for spec in hosts.split(',') {
            let (host, port) = if let Some(inner) = spec.strip_prefix('[') {
                let (addr, after) = inner.split_once(']').ok_or(DbConnError::Bracket)?;
                let port = match after {
                    "" => "",
                    p => p.strip_prefix(':').ok_or(DbConnError::Bracket)?,
                };
                (decode(addr, "host")?, port)
            } else {
                let (h, p) = spec.split_once(':').unwrap_or((spec, ""));
                (decode(h, "host")?, p)
            };
            names.push(host.to_string());
            ports.push(port);
        }
        parts.host = Some(Zeroizing::new(names.join(",")));
        if ports.iter().any(|p| !p.is_empty()) {
            parts.port = Some(Zeroizing::new(ports.join(",")));
        }
    }
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (tail, None),
    };
    if let Some(db) = path.strip_prefix('/')
        && !db.is_empty()
    {
        parts.dbname = Some(decode(db, "database")?);
    }
    for (i, pair) in query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        let (k, v) = pair
            .split_once('=')
            .ok_or(DbConnError::MissingEquals(i + 1))?;
        let key = decode(k, "parameters")?;
        let value = decode(v, "parameters")?;
        parts.set(&key, value, i + 1)?;
    }
    Ok(parts)
}

/// libpq's `key = value` form: whitespace between pairs (and around `=`); a value in single
/// quotes may hold spaces; a backslash escapes the next character, quoted or not.
fn key_values(text: &str) -> Result<Parts, DbConnError> {
    let mut parts = Parts::default();
    let mut chars = text.chars().peekable();
    let mut index = 0;
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(parts);
        }
        index += 1;
        // The key is not secret, but a mistyped line could make a password look like one:
        // it is held like a value, and never quoted back.
        // Sized once, as every buffer a password may pass through (see `decode`).
        let mut key = Zeroizing::new(String::with_capacity(text.len()));
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if key.is_empty() || chars.next() != Some('=') {
            return Err(DbConnError::MissingEquals(index));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = Zeroizing::new(String::with_capacity(text.len()));
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => return Err(DbConnError::UnterminatedQuote),
                    Some('\'') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err(DbConnError::UnterminatedQuote),
                    },
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    if let Some(next) = chars.next() {
                        value.push(next);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        parts.set(&key, value, index)?;
    }
}

fn check_text(s: &str, field: &'static str) -> Result<(), DbConnError> {
    if s.chars().any(char::is_control) {
        return Err(DbConnError::ControlChar(field));
    }
    Ok(())
}

/// A host as libpq takes it: a socket directory (absolute path), an IPv6 address, or a
/// name or IPv4 address.
fn check_host(host: &str) -> Result<(), DbConnError> {
    check_text(host, "host")?;
    if host.starts_with('/') {
        return Ok(());
    }
    if host.contains('@') {
        return Err(DbConnError::HostAt);
    }
    let ok = if host.contains(':') {
        host.chars()
            .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.' || c == '%')
            || host.split_once('%').is_some_and(|(addr, zone)| {
                addr.chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
                    && zone.chars().all(|c| c.is_ascii_alphanumeric())
            })
    } else {
        host.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
    };
    if ok {
        Ok(())
    } else {
        Err(DbConnError::BadHost)
    }
}

fn port_of(text: &str) -> Result<Option<u16>, DbConnError> {
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<u16>() {
        Ok(p) if p > 0 && text.chars().all(|c| c.is_ascii_digit()) => Ok(Some(p)),
        _ => Err(DbConnError::PortNotNumber),
    }
}

/// Pair hosts with ports (one port for all, or one each; an empty one is the default),
/// check every public field, and seal the rest.
fn finish(parts: Parts) -> Result<Connection, DbConnError> {
    let engine = DbEngine::Postgres;
    let hosts: Vec<&str> = parts
        .host
        .as_ref()
        .map_or(vec![""], |h| h.split(',').collect());
    let ports: Vec<&str> = parts
        .port
        .as_ref()
        .map_or(vec![""], |p| p.split(',').collect());
    if ports.len() != 1 && ports.len() != hosts.len() {
        return Err(DbConnError::PortCount {
            ports: ports.len(),
            hosts: hosts.len(),
        });
    }
    // An empty host is the default local socket, which a URL can spell only alone.
    if hosts.len() > 1 && hosts.iter().any(|h| h.is_empty()) {
        return Err(DbConnError::BadHost);
    }
    let mut list = Vec::with_capacity(hosts.len());
    for (i, host) in hosts.iter().enumerate() {
        let port = ports.get(i).or(ports.first()).copied().unwrap_or_default();
        let port = port_of(port)?.unwrap_or(engine.default_port());
        if !host.is_empty() {
            check_host(host)?;
        }
        list.push(DbHost {
            host: (!host.is_empty()).then(|| host.to_string()),
            port,
        });
    }
    let public = |v: &Option<Value>, field| -> Result<Option<String>, DbConnError> {
        match v {
            Some(s) if !s.is_empty() => check_text(s, field).map(|()| Some(s.to_string())),
            _ => Ok(None),
        }
    };
    // libpq reads a `dbname` holding `=` or a URL prefix as a connection string of its own:
    // its password would land in the public metadata, so it is refused.
    if parts.dbname.as_ref().is_some_and(|d| {
        d.contains('=') || d.starts_with("postgres://") || d.starts_with("postgresql://")
    }) {
        return Err(DbConnError::NestedConnection);
    }
    let sslmode = public(&parts.sslmode, "sslmode")?;
    if sslmode.as_deref().is_some_and(|m| !SSL_MODES.contains(&m)) {
        return Err(DbConnError::SslMode);
    }
    let mut params = BTreeMap::new();
    for (k, v) in &parts.params {
        check_text(v, k)?;
        params.insert((*k).to_string(), v.to_string());
    }
    let password = parts.password.filter(|p| !p.is_empty());
    let info = DbConnInfo {
        engine,
        hosts: list,
        database: public(&parts.dbname, "database")?,
        user: public(&parts.user, "user")?,
        sslmode,
        params,
        password: password.is_some(),
    };
    let url = postgres_url(&info, password.as_deref().map(String::as_str));
    Ok(Connection {
        value: SecretBytes::from_slice(url.as_bytes()),
        info,
    })
}
