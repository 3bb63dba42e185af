//! The provider registry: which hosts a credential may be sent to, how it is attached, and
//! which methods and paths a brokered call may use. Built-in providers are data files compiled
//! into the binary; custom providers come from the vault (added by a human with a proof).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::BrokerError;

include!(concat!(env!("OUT_DIR"), "/builtin.rs"));

/// One provider, as written in `providers/NAME.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Lower-case letters, digits and `-`; the file is `NAME.toml`.
    pub name: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs: Option<String>,
    /// Variable names this provider claims (`OPENAI_API_KEY`): a record whose key segment
    /// matches one (case-insensitively) is pinned to this provider.
    pub secrets: Vec<String>,
    /// Hosts the credential may go to: exact names, or `*.example.com` (one or more labels
    /// under `example.com`, never `example.com` itself).
    pub hosts: Vec<String>,
    /// The host calls go to; must be an exact host matched by `hosts`. Defaults to the only
    /// exact entry of `hosts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_host: Option<String>,
    pub auth: Auth,
    /// Fixed headers sent unless the caller sets them (an API version, say). Never auth.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// What a run's child gets instead of the value, and how its requests reach kovra.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<PlaceholderSpec>,
    pub capabilities: Vec<Capability>,
}

/// The shape of a placeholder: SDKs that check a key's format (a prefix, a length) accept it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceholderSpec {
    /// Fixed text the provider's keys start with (`sk-`).
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub charset: Charset,
    /// Random characters after the prefix (at least 24: a placeholder cannot be guessed).
    #[serde(default = "default_placeholder_length")]
    pub length: usize,
    /// An SDK variable naming the API's base URL (`OPENAI_BASE_URL`): the child gets a
    /// loopback URL of kovra's there and needs no proxy and no CA for this provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url_variable: Option<String>,
    /// The path the SDK expects at the end of that base URL (`/v1`), if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub base_url_path: String,
}

impl Default for PlaceholderSpec {
    fn default() -> Self {
        PlaceholderSpec {
            prefix: String::new(),
            charset: Charset::default(),
            length: default_placeholder_length(),
            base_url_variable: None,
            base_url_path: String::new(),
        }
    }
}

fn default_placeholder_length() -> usize {
    40
}

/// The alphabet of a placeholder's random part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Charset {
    #[default]
    Alnum,
    Hex,
    Base64url,
}

impl Charset {
    pub fn alphabet(self) -> &'static [u8] {
        match self {
            Charset::Alnum => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            Charset::Hex => b"0123456789abcdef",
            Charset::Base64url => {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            }
        }
    }
}

/// How the credential is attached to a request. Templates use `{secret}` (the whole value),
/// or `{secret.user}` / `{secret.password}` (the parts before and after its first `:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Auth {
    /// `Authorization: Bearer {secret}`.
    Bearer,
    /// A header of the provider's choice, e.g. `x-api-key: {secret}`.
    Header {
        name: String,
        #[serde(default = "default_template")]
        template: String,
    },
    /// A query parameter, e.g. `?key={secret}`.
    Query { param: String },
    /// HTTP basic auth from two templates.
    Basic { username: String, password: String },
    /// A path prefix holding the credential, e.g. `/bot{secret}` (Telegram).
    Path { prefix: String },
}

fn default_template() -> String {
    "{secret}".to_string()
}

impl Auth {
    /// The request header this method writes, lower-cased.
    pub fn header_name(&self) -> Option<String> {
        match self {
            Auth::Bearer | Auth::Basic { .. } => Some("authorization".into()),
            Auth::Header { name, .. } => Some(name.to_ascii_lowercase()),
            Auth::Query { .. } | Auth::Path { .. } => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Auth::Bearer => "bearer",
            Auth::Header { .. } => "header",
            Auth::Query { .. } => "query",
            Auth::Basic { .. } => "basic",
            Auth::Path { .. } => "path",
        }
    }
}

/// Requests per window, per provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub requests: u32,
    pub per_seconds: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            requests: 120,
            per_seconds: 60,
        }
    }
}

/// Methods allowed under path prefixes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capability {
    pub methods: Vec<String>,
    /// Prefixes starting with `/`. One ending in `/` matches anything below it; any other
    /// matches itself and what lies below it (`/v1` matches `/v1` and `/v1/x`, not `/v1x`).
    pub paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

impl Provider {
    /// Parse and check one provider file.
    pub fn from_toml(text: &str) -> Result<Provider, BrokerError> {
        let p: Provider = toml::from_str(text).map_err(|e| BrokerError::ProviderInvalid {
            name: "(file)".into(),
            why: e.message().to_string(),
        })?;
        p.validate()?;
        Ok(p)
    }

    /// The host calls go to.
    pub fn host(&self) -> &str {
        match &self.default_host {
            Some(h) => h,
            None => self
                .hosts
                .iter()
                .find(|h| !h.starts_with("*."))
                .map(String::as_str)
                .unwrap_or(""),
        }
    }

    /// The placeholder shape: the file's, or a plain random token.
    pub fn placeholder(&self) -> PlaceholderSpec {
        self.placeholder.clone().unwrap_or_default()
    }

    pub fn rate_limit(&self) -> RateLimit {
        self.rate_limit.unwrap_or_default()
    }

    /// Whether `host` is one this provider's credential may go to.
    pub fn allows_host(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.hosts
            .iter()
            .any(|pattern| host_matches(pattern, &host))
    }

    /// Whether this provider claims a record key (`openai_api_key` ~ `OPENAI_API_KEY`).
    pub fn claims(&self, key: &str) -> bool {
        self.secrets.iter().any(|s| s.eq_ignore_ascii_case(key))
    }

    /// The capability allowing `method` on `path`, if any.
    pub fn capability_for(&self, method: &str, path: &str) -> Option<&Capability> {
        self.capabilities.iter().find(|c| {
            c.methods.iter().any(|m| m == method) && c.paths.iter().any(|p| prefix_matches(p, path))
        })
    }

    /// Every rule a provider must satisfy, whoever wrote it.
    pub fn validate(&self) -> Result<(), BrokerError> {
        let bad = |why: String| BrokerError::ProviderInvalid {
            name: self.name.clone(),
            why,
        };
        if self.name.is_empty()
            || self.name.len() > 40
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad(
                "name: use 1-40 lower-case letters, digits and `-`".into()
            ));
        }
        if self.title.trim().is_empty() {
            return Err(bad("title is empty".into()));
        }
        if self.secrets.is_empty() {
            return Err(bad("secrets: claim at least one variable name".into()));
        }
        for s in &self.secrets {
            if s.is_empty()
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(bad(format!(
                    "secrets: `{s}` is not an upper-case variable name"
                )));
            }
        }
        if self.hosts.is_empty() {
            return Err(bad("hosts: name at least one host".into()));
        }
        for h in &self.hosts {
            validate_host_pattern(h).map_err(|why| bad(format!("hosts: `{h}` {why}")))?;
        }
        let host = self.host();
        if host.is_empty() || host.starts_with("*.") || !self.allows_host(host) {
            return Err(bad(
                "default_host: name an exact host that `hosts` allows".into()
            ));
        }
        validate_host_pattern(host).map_err(|why| bad(format!("default_host {why}")))?;
        match &self.auth {
            Auth::Bearer => {}
            Auth::Header { name, template } => {
                validate_header_name(name).map_err(|why| bad(format!("auth.name {why}")))?;
                if crate::rules::is_broker_owned_header(name) {
                    return Err(bad(format!("auth.name `{name}` is set by the broker")));
                }
                validate_template(template).map_err(|why| bad(format!("auth.template {why}")))?;
            }
            Auth::Query { param } => {
                if param.is_empty()
                    || !param
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
                {
                    return Err(bad("auth.param: use letters, digits, `_`, `-`, `.`".into()));
                }
            }
            Auth::Basic { username, password } => {
                let uses = |t: &str| t.contains("{secret");
                if !uses(username) && !uses(password) {
                    return Err(bad(
                        "auth: basic needs {secret} in username or password".into()
                    ));
                }
                for t in [username, password] {
                    if !t.is_empty() {
                        validate_template_parts(t)
                            .map_err(|why| bad(format!("auth template {why}")))?;
                    }
                }
            }
            Auth::Path { prefix } => {
                if !prefix.starts_with('/') || prefix.ends_with('/') {
                    return Err(bad(
                        "auth.prefix: start with `/` and do not end with `/`".into()
                    ));
                }
                validate_template(prefix).map_err(|why| bad(format!("auth.prefix {why}")))?;
            }
        }
        for (k, v) in &self.headers {
            validate_header_name(k).map_err(|why| bad(format!("headers: `{k}` {why}")))?;
            if crate::rules::is_auth_class_header(k, None) {
                return Err(bad(format!("headers: `{k}` is an auth header")));
            }
            if crate::rules::is_broker_owned_header(k) {
                return Err(bad(format!("headers: `{k}` is set by the broker")));
            }
            if v.contains("{secret") || v.bytes().any(|b| b < 0x20 || b == 0x7f) {
                return Err(bad(format!("headers: `{k}` has an invalid value")));
            }
        }
        if let Some(r) = self.rate_limit
            && (r.requests == 0 || r.per_seconds == 0 || r.per_seconds > 86_400)
        {
            return Err(bad(
                "rate_limit: requests and per_seconds must be positive (per_seconds at most 86400)"
                    .into(),
            ));
        }
        if let Some(ph) = &self.placeholder {
            if ph.length < 24 || ph.length > 200 {
                return Err(bad(
                    "placeholder.length: use 24 to 200 random characters".into()
                ));
            }
            if ph.prefix.len() > 40
                || !ph
                    .prefix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(bad(
                    "placeholder.prefix: at most 40 letters, digits, `-` and `_`".into(),
                ));
            }
            if let Some(v) = &ph.base_url_variable
                && (v.is_empty()
                    || !v
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'))
            {
                return Err(bad(
                    "placeholder.base_url_variable: an upper-case variable name".into(),
                ));
            }
            if !ph.base_url_path.is_empty()
                && (ph.base_url_path.ends_with('/')
                    || crate::rules::check_path(&ph.base_url_path).is_err())
            {
                return Err(bad(
                    "placeholder.base_url_path: start with `/`, no dot segments, no trailing `/`"
                        .into(),
                ));
            }
        }
        if self.capabilities.is_empty() {
            return Err(bad("capabilities: list at least one".into()));
        }
        for c in &self.capabilities {
            if c.methods.is_empty() || c.paths.is_empty() {
                return Err(bad("capabilities: each needs methods and paths".into()));
            }
            for m in &c.methods {
                if !METHODS.contains(&m.as_str()) {
                    return Err(bad(format!(
                        "capabilities: method `{m}` is not one of {}",
                        METHODS.join(", ")
                    )));
                }
            }
            for p in &c.paths {
                if crate::rules::check_path(p).is_err() {
                    return Err(bad(format!(
                        "capabilities: path `{p}` must start with `/` and hold no dot segments"
                    )));
                }
            }
        }
        Ok(())
    }
}

fn validate_host_pattern(h: &str) -> Result<(), &'static str> {
    let bare = h.strip_prefix("*.").unwrap_or(h);
    let labels: Vec<&str> = bare.split('.').collect();
    if labels.len() < 2 {
        return Err("needs at least two labels");
    }
    for l in labels {
        if l.is_empty()
            || l.len() > 63
            || l.starts_with('-')
            || l.ends_with('-')
            || !l
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("is not a lower-case host name");
        }
    }
    Ok(())
}

fn validate_header_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err("is not a header name");
    }
    Ok(())
}

fn validate_template(t: &str) -> Result<(), &'static str> {
    if !t.contains("{secret") {
        return Err("must contain {secret}");
    }
    validate_template_parts(t)
}

fn validate_template_parts(t: &str) -> Result<(), &'static str> {
    let mut rest = t;
    while let Some(at) = rest.find('{') {
        let after = &rest[at..];
        let known = ["{secret}", "{secret.user}", "{secret.password}"];
        match known.iter().find(|k| after.starts_with(**k)) {
            Some(k) => rest = &after[k.len()..],
            None => {
                return Err(
                    "has an unknown placeholder (use {secret}, {secret.user}, {secret.password})",
                );
            }
        }
    }
    if t.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("has control characters");
    }
    Ok(())
}

/// `*.example.com` matches `a.example.com` and `a.b.example.com`, never `example.com` or
/// `badexample.com`; anything else matches only itself.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            host.len() > suffix.len() + 1
                && host.ends_with(suffix)
                && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
        }
        None => pattern == host,
    }
}

/// Prefix matching on segment boundaries.
pub fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix.ends_with('/') {
        path.starts_with(prefix)
    } else {
        path == prefix
            || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'/'))
    }
}

/// The built-in providers plus the vault's custom ones.
#[derive(Debug, Clone)]
pub struct Registry {
    providers: BTreeMap<String, (Provider, Origin)>,
    /// Claimed variable name (upper case) → provider name: `list` asks once per record.
    claims: BTreeMap<String, String>,
}

/// Where a provider came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    Builtin,
    Custom,
}

impl Registry {
    /// The compiled-in providers. A file that fails to parse is a build defect, caught by the
    /// registry tests; at run time it is skipped rather than taking the daemon down.
    pub fn builtin() -> Registry {
        let mut providers = BTreeMap::new();
        for (file, text) in builtin_files() {
            match Provider::from_toml(text) {
                Ok(p) if format!("{}.toml", p.name) == *file => {
                    providers.insert(p.name.clone(), (p, Origin::Builtin));
                }
                _ => {}
            }
        }
        let mut r = Registry {
            providers,
            claims: BTreeMap::new(),
        };
        r.index_claims();
        r
    }

    fn index_claims(&mut self) {
        self.claims.clear();
        // Built-ins first: should two ever claim a name, the built-in keeps it.
        for origin in [Origin::Builtin, Origin::Custom] {
            for (p, o) in self.providers.values() {
                if *o == origin {
                    for s in &p.secrets {
                        self.claims
                            .entry(s.to_ascii_uppercase())
                            .or_insert_with(|| p.name.clone());
                    }
                }
            }
        }
    }

    /// Add custom providers; a name already built in is refused.
    pub fn with_custom(mut self, custom: Vec<Provider>) -> Result<Registry, BrokerError> {
        for p in custom {
            p.validate()?;
            if self.providers.contains_key(&p.name) {
                return Err(BrokerError::ProviderInvalid {
                    name: p.name.clone(),
                    why: "a provider of that name already exists".into(),
                });
            }
            // A claim pins records by name: a second claimant would capture records that
            // another provider owns, so every name has at most one.
            for name in &p.secrets {
                if let Some(owner) = self.claimant(name) {
                    return Err(BrokerError::ProviderInvalid {
                        name: p.name.clone(),
                        why: format!("`{name}` is already claimed by provider {}", owner.name),
                    });
                }
            }
            self.providers.insert(p.name.clone(), (p, Origin::Custom));
            self.index_claims();
        }
        Ok(self)
    }

    pub fn get(&self, name: &str) -> Option<&Provider> {
        self.providers.get(name).map(|(p, _)| p)
    }

    pub fn origin(&self, name: &str) -> Option<Origin> {
        self.providers.get(name).map(|(_, o)| *o)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Provider, Origin)> {
        self.providers.values().map(|(p, o)| (p, *o))
    }

    /// The provider whose key format `value` has: its placeholder prefix (at least three
    /// characters), then at least 20 token characters. The longest prefix wins (`sk-ant-`
    /// before `sk-`). Only a suggestion for `kovra import`: a value that merely looks like a
    /// key gets a pin the human sees in the plan before anything is written.
    pub fn recognize(&self, value: &[u8]) -> Option<&Provider> {
        let token = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
        self.iter()
            .filter_map(|(p, _)| {
                let prefix = p.placeholder.as_ref()?.prefix.as_bytes();
                let rest = value.strip_prefix(prefix)?;
                (prefix.len() >= 3 && rest.len() >= 20 && rest.iter().all(token))
                    .then_some((prefix.len(), p))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, p)| p)
    }

    /// The provider claiming a record key by name, if any. Claims are unique (custom
    /// providers cannot repeat one); built-ins are still consulted first.
    pub fn claimant(&self, key: &str) -> Option<&Provider> {
        // `list` asks this for every record shown: a key of usual length is upper-cased on
        // the stack rather than into a fresh String each time.
        let mut buf = [0u8; 64];
        let name = match buf.get_mut(..key.len()) {
            Some(upper) => {
                upper.copy_from_slice(key.as_bytes());
                upper.make_ascii_uppercase();
                std::borrow::Cow::Borrowed(std::str::from_utf8(upper).ok()?)
            }
            None => std::borrow::Cow::Owned(key.to_ascii_uppercase()),
        };
        self.claims
            .get(name.as_ref())
            .and_then(|name| self.get(name))
    }
}

/// The raw built-in files, for the registry tests.
pub fn builtin_files() -> &'static [(&'static str, &'static str)] {
    BUILTIN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_provider_cannot_claim_a_name_another_provider_owns() {
        let text = r#"
name = "hijack"
title = "Internal"
secrets = ["OPENAI_API_KEY"]
hosts = ["api.internal.test"]
[auth]
kind = "bearer"
[[capabilities]]
methods = ["GET"]
paths = ["/"]
"#;
        let p = Provider::from_toml(text).unwrap();
        let err = Registry::builtin().with_custom(vec![p]).unwrap_err();
        assert!(
            err.to_string()
                .contains("already claimed by provider openai"),
            "{err}"
        );
        assert_eq!(
            Registry::builtin()
                .claimant("openai_api_key")
                .map(|p| p.name.as_str()),
            Some("openai")
        );
    }

    #[test]
    fn a_value_is_recognized_by_the_longest_placeholder_prefix_then_a_token() {
        let r = Registry::builtin();
        let name = |v: &str| r.recognize(v.as_bytes()).map(|p| p.name.clone());
        let tail = "a1B2c3D4e5F6g7H8i9J0kLmN";
        assert_eq!(name(&format!("ghp_{tail}")).as_deref(), Some("github"));
        assert_eq!(
            name(&format!("sk-or-v1-{tail}")).as_deref(),
            Some("openrouter")
        );
        assert_eq!(
            name(&format!("sk-ant-api03-{tail}")).as_deref(),
            Some("anthropic")
        );
        assert_eq!(name("ghp_short"), None);
        assert_eq!(name(&format!("ghp_{tail} with blanks")), None);
        assert_eq!(name(&format!("plain-{tail}")), None);
    }

    #[test]
    fn a_claim_is_found_whatever_the_case_or_length_of_the_key() {
        let long = format!("INTERNAL_{}", "X".repeat(70));
        let text = format!(
            r#"
name = "internal"
title = "Internal"
secrets = ["{long}", "SHORT_KEY"]
hosts = ["api.internal.test"]
[auth]
kind = "bearer"
[[capabilities]]
methods = ["GET"]
paths = ["/"]
"#
        );
        let p = Provider::from_toml(&text).unwrap();
        let r = Registry::builtin().with_custom(vec![p]).unwrap();
        let owner = |key: &str| r.claimant(key).map(|p| p.name.clone());
        for key in [
            long.clone(),
            long.to_ascii_lowercase(),
            "short_key".into(),
            "Short_Key".into(),
        ] {
            assert_eq!(owner(&key).as_deref(), Some("internal"), "{key}");
        }
        assert_eq!(owner("OpenAI_Api_Key").as_deref(), Some("openai"));
        for key in ["short_ke", "short_key_", "", "é_short_key"] {
            assert_eq!(owner(key), None, "{key}");
        }
        assert_eq!(owner(&"k".repeat(64)), None);
        assert_eq!(owner(&long[..long.len() - 1]), None);
    }

    #[test]
    fn wildcard_hosts_respect_the_dot_boundary() {
        assert!(host_matches("*.example.com", "a.example.com"));
        assert!(host_matches("*.example.com", "a.b.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", "badexample.com"));
        assert!(!host_matches("*.example.com", ".example.com"));
        assert!(host_matches("api.example.com", "api.example.com"));
        assert!(!host_matches("api.example.com", "api.example.com.evil.net"));
    }

    #[test]
    fn prefixes_match_on_segment_boundaries() {
        assert!(prefix_matches("/v1/", "/v1/models"));
        assert!(!prefix_matches("/v1/", "/v1"));
        assert!(prefix_matches("/v1", "/v1"));
        assert!(prefix_matches("/v1", "/v1/x"));
        assert!(!prefix_matches("/v1", "/v1x"));
        assert!(prefix_matches("/", "/anything"));
    }
}
