//! `.env.refs`: a project's wiring of variable names to coordinates. Addresses, never values.
//! The grammar is in `docs/env-refs.md`; every error names the file, line and column.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::coord::{CoordError, CoordinateTemplate};
use crate::policy::KeyPart;

/// One parsed `.env.refs` file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefsFile {
    pub project: Option<String>,
    /// `env = NAME`: what `${ENV}` stands for when no `--env` is given (see [`choose_env`]).
    #[serde(default)]
    pub env: Option<String>,
    pub entries: Vec<Entry>,
}

/// `NAME=…` with where it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub name: String,
    pub value: RefValue,
    pub line: usize,
}

/// What a variable is wired to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum RefValue {
    /// `secret:…`, optionally `| fallback` (refused for production coordinates).
    Secret {
        coordinate: String,
        fallback: Option<String>,
        column: usize,
        /// `secret:…#private`: an SSH key record's private key (its public key otherwise).
        #[serde(default, skip_serializing_if = "is_false")]
        private: bool,
        /// `secret:…#url`: a database connection record, as a URL of kovra's database proxy
        /// with a token of the run's (never the record's password).
        #[serde(default, skip_serializing_if = "is_false")]
        url: bool,
    },
    /// `fd:secret:…`: the value goes to the child on a file descriptor (a pipe it reads),
    /// and the variable holds that descriptor's number, so the value never sits in the
    /// child's environment. No fallback.
    Descriptor {
        coordinate: String,
        column: usize,
        #[serde(default, skip_serializing_if = "is_false")]
        private: bool,
    },
    /// `${env:VAR}` from the caller's environment, optionally `| fallback`.
    Env {
        var: String,
        fallback: Option<String>,
    },
    /// A plain value, written in the file.
    Literal { text: String },
    /// Text with `{{secret:…}}` and `{{env:VAR}}` parts, such as a connection URL.
    Template { parts: Vec<Part> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Part {
    Text {
        text: String,
    },
    Secret {
        coordinate: String,
        column: usize,
        #[serde(default, skip_serializing_if = "is_false")]
        private: bool,
    },
    Env {
        var: String,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The fragment that asks for an SSH key record's private key.
pub const PRIVATE_FRAGMENT: &str = "#private";
/// The fragment that asks for a database connection through kovra's proxy.
pub const URL_FRAGMENT: &str = "#url";

/// Split `secret:…#private` into the coordinate and whether the private key is asked for.
/// Any other `#…` right after a coordinate is an error (a comment needs a space before it);
/// `#url` is read only where `url_allowed` (a whole `NAME=secret:…#url` value).
fn split_fragment_of(
    text: &str,
    col: usize,
    url_allowed: bool,
) -> Result<(&str, bool, bool), (usize, String)> {
    match text.find('#') {
        None => Ok((text, false, false)),
        Some(at) if &text[at..] == PRIVATE_FRAGMENT => Ok((&text[..at], true, false)),
        Some(at) if &text[at..] == URL_FRAGMENT && url_allowed => Ok((&text[..at], false, true)),
        Some(at) if &text[at..] == URL_FRAGMENT => Err((
            col + at,
            "`#url` stands for a whole value: write it as `NAME=secret:…#url`".into(),
        )),
        Some(at) => Err((
            col + at,
            format!(
                "`{}` after a coordinate: the fragments are `#private` (an SSH key record's private key) and `#url` (a database connection through kovra)",
                &text[at..]
            ),
        )),
    }
}

fn split_fragment(text: &str, col: usize) -> Result<(&str, bool), (usize, String)> {
    split_fragment_of(text, col, false).map(|(c, private, _)| (c, private))
}

impl RefValue {
    /// Which part of an SSH key record each of [`coordinates`](RefValue::coordinates) asks
    /// for, in the same order (the public key unless the line says `#private`).
    pub fn key_parts(&self) -> Vec<KeyPart> {
        let part = |private: bool| {
            if private {
                KeyPart::Private
            } else {
                KeyPart::Public
            }
        };
        match self {
            RefValue::Secret { url: true, .. } => vec![KeyPart::Url],
            RefValue::Secret { private, .. } | RefValue::Descriptor { private, .. } => {
                vec![part(*private)]
            }
            RefValue::Template { parts } => parts
                .iter()
                .filter_map(|p| match p {
                    Part::Secret { private, .. } => Some(part(*private)),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The coordinate templates this value refers to, with their columns.
    pub fn coordinates(&self) -> Vec<(&str, usize)> {
        match self {
            RefValue::Secret {
                coordinate, column, ..
            }
            | RefValue::Descriptor {
                coordinate, column, ..
            } => vec![(coordinate.as_str(), *column)],
            RefValue::Template { parts } => parts
                .iter()
                .filter_map(|p| match p {
                    Part::Secret {
                        coordinate, column, ..
                    } => Some((coordinate.as_str(), *column)),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// A parse error at a position in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefsError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for RefsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for RefsError {}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parse a file's text. `file` is only used in error messages.
pub fn parse(file: &str, text: &str) -> Result<RefsFile, RefsError> {
    let mut out = RefsFile {
        project: None,
        env: None,
        entries: Vec::new(),
    };
    let mut seen: HashSet<String> = HashSet::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let err = |column: usize, message: String| RefsError {
            file: file.to_string(),
            line,
            column,
            message,
        };
        let indent = raw.len() - raw.trim_start().len();
        let body = raw.trim();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let body = body
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(body);
        let offset = indent + (raw.trim().len() - body.len()) + 1;
        let Some(eq) = body.find('=') else {
            return Err(err(
                offset,
                "expected `NAME=VALUE`, `project = NAME`, `env = NAME` or a `#` comment".into(),
            ));
        };
        let name = body[..eq].trim();
        let value_start = eq + 1 + (body[eq + 1..].len() - body[eq + 1..].trim_start().len());
        let value = body[eq + 1..].trim();
        let vcol = offset + value_start;
        if name == "project" {
            if out.project.is_some() {
                return Err(err(
                    offset,
                    "`project` is set twice; a file belongs to one project".into(),
                ));
            }
            crate::coord::validate_name(value)
                .map_err(|e| err(vcol, format!("invalid project name: {e}")))?;
            out.project = Some(value.to_string());
            continue;
        }
        if name == "env" {
            if out.env.is_some() {
                return Err(err(
                    offset,
                    "`env` is set twice; a file names one default environment".into(),
                ));
            }
            if value.contains("${") {
                return Err(err(
                    vcol,
                    "`env` names an environment, e.g. `env = dev`; it cannot hold `${…}`".into(),
                ));
            }
            crate::coord::validate_env(value)
                .map_err(|e| err(vcol, format!("invalid environment name: {e}")))?;
            out.env = Some(value.to_string());
            continue;
        }
        if !is_name(name) {
            return Err(err(
                offset,
                format!(
                    "`{name}` is not a variable name (letters, digits and `_`, not starting with a digit)"
                ),
            ));
        }
        if name.starts_with("KOVRA_") {
            return Err(err(
                offset,
                format!("`{name}`: KOVRA_* variables are never passed to a child"),
            ));
        }
        if !seen.insert(name.to_string()) {
            return Err(err(offset, format!("`{name}` is defined twice")));
        }
        let value = parse_value(value, vcol).map_err(|(column, message)| err(column, message))?;
        out.entries.push(Entry {
            name: name.to_string(),
            value,
            line,
        });
    }
    Ok(out)
}

/// Where the environment `${ENV}` stands for came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvSource {
    /// `--env`, or an MCP tool's `env` argument.
    Explicit,
    /// The refs file's `env = NAME` line.
    File,
    /// `KOVRA_ENV`.
    Variable,
}

/// The one rule every surface (CLI `run`, `doctor`, `sandbox`, `agent env`, `api`, and the
/// MCP tools) follows for `${ENV}`: what the caller said for this call, then what the
/// project's file says, then the shell's `KOVRA_ENV`. The file beats the variable because
/// it is the project's own statement, and a variable left exported from another project
/// must not silently switch environments. Core reads no environment: callers pass
/// `KOVRA_ENV`'s value.
pub fn choose_env<'a>(
    explicit: Option<&'a str>,
    file: Option<&'a str>,
    variable: Option<&'a str>,
) -> Option<(&'a str, EnvSource)> {
    let non_empty = |v: Option<&'a str>| v.filter(|v| !v.trim().is_empty());
    non_empty(explicit)
        .map(|e| (e, EnvSource::Explicit))
        .or_else(|| non_empty(file).map(|e| (e, EnvSource::File)))
        .or_else(|| non_empty(variable).map(|e| (e, EnvSource::Variable)))
}

/// [`choose_env`] for a client holding a refs text it has not parsed. A text that does not
/// parse contributes nothing here; the daemon reports its error with the position.
pub fn env_for_text(
    explicit: Option<&str>,
    text: Option<&str>,
    variable: Option<&str>,
) -> Option<String> {
    let file = text.and_then(|t| parse("", t).ok()).and_then(|f| f.env);
    choose_env(explicit, file.as_deref(), variable).map(|(e, _)| e.to_string())
}

/// How to give an environment, for the message when none was given.
pub const ENV_HINT: &str = "add `env = dev` to .env.refs or set KOVRA_ENV=dev (or pass --env; over MCP, the `env` argument)";

/// Split `value | fallback` on the first ` | ` outside quotes.
fn split_fallback(value: &str) -> (&str, Option<&str>) {
    match value.find(" | ").or_else(|| value.find("|")) {
        Some(at) if !value.starts_with('"') && !value.starts_with('\'') => {
            let (main, rest) = value.split_at(at);
            (
                main.trim_end(),
                Some(rest.trim_start_matches([' ', '|']).trim_start()),
            )
        }
        _ => (value, None),
    }
}

fn unquote(text: &str, col: usize) -> Result<(String, bool), (usize, String)> {
    for q in ['"', '\''] {
        if let Some(inner) = text.strip_prefix(q) {
            let Some(inner) = inner.strip_suffix(q) else {
                return Err((col, format!("unterminated {q}-quoted value")));
            };
            let unescaped = if q == '"' {
                inner
                    .replace("\\\"", "\"")
                    .replace("\\n", "\n")
                    .replace("\\\\", "\\")
            } else {
                inner.to_string()
            };
            return Ok((unescaped, q == '\''));
        }
    }
    // Unquoted: a ` #` starts a comment.
    let text = match text.find(" #") {
        Some(at) => text[..at].trim_end(),
        None => text,
    };
    Ok((text.to_string(), false))
}

fn check_coordinate(text: &str, col: usize) -> Result<(), (usize, String)> {
    CoordinateTemplate::parse(text)
        .map(|_| ())
        .map_err(|e: CoordError| {
            (
                col + e.position().map_or(0, |p| p - 1),
                format!("invalid coordinate `{text}`: {e}"),
            )
        })
}

fn parse_value(value: &str, col: usize) -> Result<RefValue, (usize, String)> {
    let (main, fallback) = split_fallback(value);
    let fallback = match fallback {
        Some(f) => Some(unquote(f, col + value.len() - f.len())?.0),
        None => None,
    };
    if let Some(coordinate) = main.strip_prefix("fd:") {
        if !coordinate.starts_with("secret:") {
            return Err((col, "`fd:` is followed by a `secret:…` coordinate".into()));
        }
        if fallback.is_some() {
            return Err((
                col,
                "`fd:secret:…` takes no `| fallback`: a descriptor carries a vault value or the run does not start".into(),
            ));
        }
        let (coordinate, private) = split_fragment(coordinate, col + 3)?;
        check_coordinate(coordinate, col + 3)?;
        return Ok(RefValue::Descriptor {
            coordinate: coordinate.to_string(),
            column: col + 3,
            private,
        });
    }
    if main.starts_with("secret:") {
        let (coordinate, private, url) = split_fragment_of(main, col, true)?;
        check_coordinate(coordinate, col)?;
        if url && fallback.is_some() {
            return Err((
                col,
                "`secret:…#url` takes no `| fallback`: the run connects through kovra or does not start".into(),
            ));
        }
        return Ok(RefValue::Secret {
            coordinate: coordinate.to_string(),
            fallback,
            column: col,
            private,
            url,
        });
    }
    if let Some(var) = main
        .strip_prefix("${env:")
        .and_then(|r| r.strip_suffix('}'))
    {
        if !is_name(var) {
            return Err((col, format!("`{var}` is not an environment variable name")));
        }
        return Ok(RefValue::Env {
            var: var.to_string(),
            fallback,
        });
    }
    if fallback.is_some() {
        return Err((
            col,
            "a `| fallback` follows only `secret:…` or `${env:VAR}`".into(),
        ));
    }
    let (text, single_quoted) = unquote(main, col)?;
    if single_quoted || !text.contains("{{") {
        if text.contains("${") && !single_quoted {
            return Err((
                col,
                "`${…}` is only `${env:VAR}` as a whole value; inside text use `{{env:VAR}}`"
                    .into(),
            ));
        }
        return Ok(RefValue::Literal { text });
    }
    parse_template(&text, col + usize::from(main.starts_with('"')))
}

fn parse_template(text: &str, col: usize) -> Result<RefValue, (usize, String)> {
    let mut parts = Vec::new();
    let mut rest = text;
    let mut pos = 0;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            parts.push(Part::Text {
                text: rest[..open].to_string(),
            });
        }
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err((col + pos + open, "`{{` without a closing `}}`".into()));
        };
        let inner = after[..close].trim();
        let at = col + pos + open + 2;
        if inner.starts_with("secret:") {
            let (coordinate, private) = split_fragment(inner, at)?;
            check_coordinate(coordinate, at)?;
            parts.push(Part::Secret {
                coordinate: coordinate.to_string(),
                column: at,
                private,
            });
        } else if let Some(var) = inner.strip_prefix("env:") {
            if !is_name(var) {
                return Err((at, format!("`{var}` is not an environment variable name")));
            }
            parts.push(Part::Env {
                var: var.to_string(),
            });
        } else {
            return Err((
                at,
                format!("`{{{{{inner}}}}}`: expected `{{{{secret:…}}}}` or `{{{{env:VAR}}}}`"),
            ));
        }
        let consumed = open + 2 + close + 2;
        pos += consumed;
        rest = &rest[consumed..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text {
            text: rest.to_string(),
        });
    }
    Ok(RefValue::Template { parts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let text = "# wiring\nproject = shop\nDB_PASSWORD=secret:${ENV}/db/password\nexport API=secret://global/dev/api/key | dev-key\nHOME_DIR=${env:HOME}\nREGION = eu-west-1 # a comment\nURL=\"postgres://app:{{secret:${ENV}/db/password}}@{{env:DB_HOST}}/shop\"\nRAW='{{not a template}}'\n";
        let f = parse(".env.refs", text).unwrap();
        assert_eq!(f.project.as_deref(), Some("shop"));
        assert_eq!(f.entries.len(), 6);
        assert!(
            matches!(&f.entries[1].value, RefValue::Secret { fallback: Some(fb), .. } if fb == "dev-key")
        );
        assert_eq!(
            f.entries[3].value,
            RefValue::Literal {
                text: "eu-west-1".into()
            }
        );
        let RefValue::Template { parts } = &f.entries[4].value else {
            panic!("not a template")
        };
        assert_eq!(parts.len(), 5);
        assert_eq!(
            f.entries[5].value,
            RefValue::Literal {
                text: "{{not a template}}".into()
            }
        );
    }

    #[test]
    fn env_line_parses_once_and_validates() {
        let f = parse("f", "# x\nenv = dev\nA=secret:${ENV}/a/b\n").unwrap();
        assert_eq!(f.env.as_deref(), Some("dev"));
        let e = parse("f", "env = dev\nenv=qa\n").unwrap_err();
        assert_eq!(
            (e.line, e.column, e.message.contains("twice")),
            (2, 1, true)
        );
        let e = parse("f", "A=1\n  env = d v\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 9));
        assert!(e.to_string().starts_with("f:2:9: invalid environment name"));
        assert!(parse("f", "env = ${ENV}\n").is_err());
        assert!(parse("f", "env =\n").is_err());
    }

    #[test]
    fn the_flag_beats_the_file_which_beats_the_variable() {
        use EnvSource::*;
        assert_eq!(
            choose_env(Some("a"), Some("b"), Some("c")),
            Some(("a", Explicit))
        );
        assert_eq!(choose_env(None, Some("b"), Some("c")), Some(("b", File)));
        assert_eq!(choose_env(None, None, Some("c")), Some(("c", Variable)));
        assert_eq!(choose_env(Some(""), None, Some("c")), Some(("c", Variable)));
        assert_eq!(choose_env(None, None, None), None);
        let text = "env = staging\nA=secret:${ENV}/a/b\n";
        assert_eq!(
            env_for_text(None, Some(text), Some("dev")).as_deref(),
            Some("staging")
        );
        assert_eq!(
            env_for_text(None, Some("A=b c d\n==\n"), Some("dev")).as_deref(),
            Some("dev")
        );
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = parse("f", "A=1\nB=secret:dev/d b/x\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 15));
        assert!(e.to_string().starts_with("f:2:15: invalid coordinate"));
        let e = parse("f", "A=1\nA=2\n").unwrap_err();
        assert_eq!((e.line, e.message.contains("twice")), (2, true));
        assert_eq!(parse("f", "just words\n").unwrap_err().line, 1);
        assert!(parse("f", "X=\"{{secret:dev/a/b\"\n").is_err());
        let fd = parse("f", "TOKEN_FD=fd:secret:dev/app/token\n").unwrap();
        assert_eq!(
            fd.entries[0].value,
            RefValue::Descriptor {
                coordinate: "secret:dev/app/token".into(),
                column: 13,
                private: false,
            }
        );
        assert!(parse("f", "X=fd:secret:dev/a/b | nope\n").is_err());
        assert!(parse("f", "X=fd:dev/a/b\n").is_err());
        assert!(parse("f", "X={{vault:dev/a/b}}\n").is_err());
        assert!(parse("f", "KOVRA_HOME=x\n").is_err());
        assert!(parse("f", "1X=x\n").is_err());
        assert!(parse("f", "X=plain | fallback\n").is_err());
    }

    #[test]
    fn private_asks_for_a_key_records_private_key() {
        let f = parse(
            "f",
            "PUB=secret:dev/ssh/deploy\nKEY=secret:dev/ssh/deploy#private\nFD=fd:secret:dev/ssh/deploy#private\nT=\"{{secret:dev/ssh/a}} {{secret:dev/ssh/b#private}}\"\n",
        )
        .unwrap();
        let parts: Vec<Vec<KeyPart>> = f.entries.iter().map(|e| e.value.key_parts()).collect();
        use KeyPart::*;
        assert_eq!(
            parts,
            [
                vec![Public],
                vec![Private],
                vec![Private],
                vec![Public, Private],
            ]
        );
        for e in &f.entries {
            for (coordinate, _) in e.value.coordinates() {
                assert!(!coordinate.contains('#'), "{coordinate}");
            }
        }
        let e = parse("f", "K=secret:dev/ssh/k#public\n").unwrap_err();
        assert_eq!((e.line, e.column), (1, 19));
        assert!(e.message.contains("#private"), "{}", e.message);
        assert!(parse("f", "K=secret:dev/ssh/k#\n").is_err());
    }

    #[test]
    fn url_asks_for_a_connection_through_the_proxy() {
        let f = parse("f", "DATABASE_URL=secret:dev/app/db#url\n").unwrap();
        assert_eq!(f.entries[0].value.key_parts(), [KeyPart::Url]);
        assert_eq!(f.entries[0].value.coordinates()[0].0, "secret:dev/app/db");
        for bad in [
            "X=fd:secret:dev/app/db#url\n",
            "X=\"{{secret:dev/app/db#url}}\"\n",
            "X=secret:dev/app/db#url | postgres://x\n",
        ] {
            let e = parse("f", bad).unwrap_err();
            assert!(e.message.contains("#url"), "{bad}: {}", e.message);
        }
    }
}
