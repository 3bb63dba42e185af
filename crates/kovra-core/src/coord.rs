//! Coordinates: the address of a secret, never its value.
//!
//! `secret:<env>/<group>/<key>` addresses a record in the caller's vault scope;
//! `secret://global/<env>/<group>/<key>` pins the global vault. `${ENV}` may stand as the
//! whole env segment in a template, and a template is never addressable until substituted.

use std::fmt;

use serde::{Deserialize, Serialize};

const PREFIX: &str = "secret:";
const GLOBAL_PREFIX: &str = "secret://global/";
const ENV_PLACEHOLDER: &str = "${ENV}";
const MAX_SEGMENT: usize = 128;

/// Which vault a coordinate pins, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pin {
    /// Resolved against the caller's scope (the project vault, then global if in scope).
    Scope,
    /// `secret://global/...`: only the global vault.
    Global,
}

/// A parsed, addressable coordinate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Coordinate {
    pin: Pin,
    env: String,
    group: String,
    key: String,
}

/// Why a coordinate did not parse: the character and its 1-based position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoordError {
    #[error("coordinate must start with `secret:` or `secret://global/` (position 1)")]
    MissingPrefix,
    #[error("coordinate needs exactly three segments `<env>/<group>/<key>`, found {found}")]
    SegmentCount { found: usize },
    #[error("segment {segment} is empty (position {position})")]
    EmptySegment {
        segment: &'static str,
        position: usize,
    },
    #[error("segment {segment} may not be `.` or `..` (position {position})")]
    DotSegment {
        segment: &'static str,
        position: usize,
    },
    #[error(
        "invalid character {shown} at position {position} in segment {segment}; allowed: letters, digits, `.`, `_`, `-`"
    )]
    BadChar {
        shown: String,
        position: usize,
        segment: &'static str,
    },
    #[error("segment {segment} is longer than {MAX_SEGMENT} characters (position {position})")]
    TooLong {
        segment: &'static str,
        position: usize,
    },
    #[error(
        "`${{ENV}}` is a template placeholder: substitute an environment (--env) before addressing"
    )]
    Unsubstituted,
    #[error(
        "`${{...}}` is allowed only as the whole env segment, written `${{ENV}}` (position {position})"
    )]
    MisplacedPlaceholder { position: usize },
}

impl CoordError {
    /// The 1-based character position the error points at, where there is one.
    pub fn position(&self) -> Option<usize> {
        match self {
            CoordError::MissingPrefix => Some(1),
            CoordError::EmptySegment { position, .. }
            | CoordError::DotSegment { position, .. }
            | CoordError::BadChar { position, .. }
            | CoordError::TooLong { position, .. }
            | CoordError::MisplacedPlaceholder { position } => Some(*position),
            CoordError::SegmentCount { .. } | CoordError::Unsubstituted => None,
        }
    }

    pub fn hint(&self) -> &'static str {
        match self {
            CoordError::Unsubstituted => {
                "add `env = dev` to .env.refs or set KOVRA_ENV=dev (or pass --env) so `${ENV}` is replaced"
            }
            _ => "write it as secret:ENV/GROUP/NAME, e.g. secret:dev/db/password",
        }
    }
}

/// A coordinate that may still hold `${ENV}` in its env segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinateTemplate {
    pin: Pin,
    env: Option<String>,
    group: String,
    key: String,
}

impl CoordinateTemplate {
    pub fn parse(text: &str) -> Result<Self, CoordError> {
        let (pin, body, offset) = if let Some(rest) = text.strip_prefix(GLOBAL_PREFIX) {
            (Pin::Global, rest, GLOBAL_PREFIX.len())
        } else if let Some(rest) = text.strip_prefix(PREFIX) {
            if rest.starts_with("//") {
                return Err(CoordError::MissingPrefix);
            }
            (Pin::Scope, rest, PREFIX.len())
        } else {
            return Err(CoordError::MissingPrefix);
        };
        let parts: Vec<&str> = body.split('/').collect();
        if parts.len() != 3 {
            // Report a bad character before the count when there is one: it is the likelier typo.
            check_chars(body, offset, "env")?;
            return Err(CoordError::SegmentCount { found: parts.len() });
        }
        let names = ["env", "group", "key"];
        let mut position = offset + 1;
        let mut env = None;
        for (i, part) in parts.iter().enumerate() {
            let name = names[i.min(2)];
            if i == 0 && *part == ENV_PLACEHOLDER {
                position += part.len() + 1;
                continue;
            }
            validate_segment(part, position, name)?;
            if i == 0 {
                env = Some((*part).to_string());
            }
            position += part.chars().count() + 1;
        }
        Ok(Self {
            pin,
            env,
            group: parts[1].to_string(),
            key: parts[2].to_string(),
        })
    }

    pub fn is_template(&self) -> bool {
        self.env.is_none()
    }

    /// Substitute `${ENV}` (if present) and return an addressable coordinate.
    pub fn resolve(&self, env: Option<&str>) -> Result<Coordinate, CoordError> {
        let env = match (&self.env, env) {
            (Some(fixed), _) => fixed.clone(),
            (None, Some(given)) => {
                validate_segment(given, 1, "env")?;
                given.to_string()
            }
            (None, None) => return Err(CoordError::Unsubstituted),
        };
        Ok(Coordinate {
            pin: self.pin,
            env,
            group: self.group.clone(),
            key: self.key.clone(),
        })
    }
}

fn check_chars(text: &str, offset: usize, segment: &'static str) -> Result<(), CoordError> {
    for (i, c) in text.chars().enumerate() {
        if !(is_allowed(c) || c == '/') {
            return Err(bad_char(c, offset + i + 1, segment));
        }
    }
    Ok(())
}

fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

fn bad_char(c: char, position: usize, segment: &'static str) -> CoordError {
    let shown = if c.is_control() || c.is_whitespace() {
        format!("U+{:04X}", c as u32)
    } else {
        format!("`{c}`")
    };
    CoordError::BadChar {
        shown,
        position,
        segment,
    }
}

/// `position` is the 1-based character position where the segment starts.
fn validate_segment(part: &str, position: usize, segment: &'static str) -> Result<(), CoordError> {
    if part.is_empty() {
        return Err(CoordError::EmptySegment { segment, position });
    }
    if part == "." || part == ".." {
        return Err(CoordError::DotSegment { segment, position });
    }
    if let Some(at) = part.find("${") {
        return Err(CoordError::MisplacedPlaceholder {
            position: position + part[..at].chars().count(),
        });
    }
    for (i, c) in part.chars().enumerate() {
        if !is_allowed(c) {
            return Err(bad_char(c, position + i, segment));
        }
    }
    if part.chars().count() > MAX_SEGMENT {
        return Err(CoordError::TooLong { segment, position });
    }
    Ok(())
}

impl Coordinate {
    /// Parse an addressable coordinate; a template is refused.
    pub fn parse(text: &str) -> Result<Self, CoordError> {
        CoordinateTemplate::parse(text)?.resolve(None)
    }

    pub fn pin(&self) -> Pin {
        self.pin
    }
    pub fn env(&self) -> &str {
        &self.env
    }
    pub fn group(&self) -> &str {
        &self.group
    }
    pub fn key(&self) -> &str {
        &self.key
    }

    /// What the written form starts with: `secret:`, or `secret://global/` when pinned.
    pub fn prefix(&self) -> &'static str {
        match self.pin {
            Pin::Scope => PREFIX,
            Pin::Global => GLOBAL_PREFIX,
        }
    }

    /// `env/group/key`: the vault-relative path, which is what the store keys on.
    pub fn path(&self) -> String {
        format!("{}/{}/{}", self.env, self.group, self.key)
    }

    /// How [`path`](Self::path) texts compare, without building them: the order a vault's
    /// listing is sorted in, so a record is found in it by binary search.
    pub fn path_cmp(&self, other: &Coordinate) -> std::cmp::Ordering {
        fn bytes(c: &Coordinate) -> impl Iterator<Item = u8> + '_ {
            let sep = std::iter::once(b'/');
            c.env
                .bytes()
                .chain(sep.clone())
                .chain(c.group.bytes())
                .chain(sep)
                .chain(c.key.bytes())
        }
        bytes(self).cmp(bytes(other))
    }

    /// The same address without a vault pin, as stored inside a vault.
    pub fn unpinned(&self) -> Coordinate {
        Coordinate {
            pin: Pin::Scope,
            ..self.clone()
        }
    }
}

impl fmt::Display for Coordinate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Piece by piece: no `path()` string is built just to be copied (a listing of
        // 100,000 records writes as many coordinates).
        write!(
            f,
            "{}{}/{}/{}",
            self.prefix(),
            self.env,
            self.group,
            self.key
        )
    }
}

impl TryFrom<String> for Coordinate {
    type Error = CoordError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Coordinate::parse(&value)
    }
}

impl From<Coordinate> for String {
    fn from(value: Coordinate) -> Self {
        value.to_string()
    }
}

/// Names of vaults and projects share the segment alphabet.
pub fn validate_name(name: &str) -> Result<(), CoordError> {
    validate_segment(name, 1, "name")
}

/// Check an environment name as it would stand in a coordinate's first segment.
pub fn validate_env(name: &str) -> Result<(), CoordError> {
    validate_segment(name, 1, "env")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scoped_and_global() {
        let c = Coordinate::parse("secret:prod/db/password").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (c.env(), c.group(), c.key(), c.pin()),
            ("prod", "db", "password", Pin::Scope)
        );
        let g =
            Coordinate::parse("secret://global/dev/x.y/a_b-c").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(g.pin(), Pin::Global);
        assert_eq!(g.to_string(), "secret://global/dev/x.y/a_b-c");
    }

    #[test]
    fn names_position_of_bad_character() {
        let err = Coordinate::parse("secret:dev/d b/x").err();
        assert_eq!(
            err,
            Some(CoordError::BadChar {
                shown: "U+0020".into(),
                position: 13,
                segment: "group"
            })
        );
        let err = Coordinate::parse("secret:dev/db/pa$s").err();
        assert_eq!(
            err,
            Some(CoordError::BadChar {
                shown: "`$`".into(),
                position: 17,
                segment: "key"
            })
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "dev/db/x",
            "secret:dev/db",
            "secret:dev/db/x/y",
            "secret:/db/x",
            "secret:dev//x",
            "secret:../db/x",
            "secret:dev/./x",
            "secret:dev/db/\u{7}",
            "secret:dev/db/x\n",
            "secret:de${ENV}/db/x",
            "secret:${ENV}/db/x",
            "secret://other/dev/db/x",
        ] {
            assert!(Coordinate::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn template_needs_env() {
        let t = CoordinateTemplate::parse("secret:${ENV}/db/password")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(t.is_template());
        assert_eq!(t.resolve(None).err(), Some(CoordError::Unsubstituted));
        let c = t.resolve(Some("staging")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.to_string(), "secret:staging/db/password");
        assert!(t.resolve(Some("../x")).is_err());
    }
}
