//! Environment reads in source code, one regex table per language family. Only the *names*
//! read are taken: a match's capture is the variable name, and nothing after it (a default,
//! a value) is ever kept.
//!
//! These are patterns, not parsers: a read built from a computed name (`os.getenv(prefix +
//! "_KEY")`) is not found, and a read inside a string or a block comment is. Lines that are
//! wholly a comment are skipped, which covers the common case of a commented-out read.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

/// The language families scaffold reads, each with its own patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lang {
    Python,
    Javascript,
    Rust,
    Go,
    Ruby,
    Shell,
    DockerCompose,
    GithubActions,
    EnvExample,
}

impl Lang {
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Python => "python",
            Lang::Javascript => "javascript",
            Lang::Rust => "rust",
            Lang::Go => "go",
            Lang::Ruby => "ruby",
            Lang::Shell => "shell",
            Lang::DockerCompose => "docker-compose",
            Lang::GithubActions => "github-actions",
            Lang::EnvExample => "env-example",
        }
    }
}

/// One variable name read at a line (1-based). `secret` is set where the file itself says
/// the value is a secret (a workflow's `${{ secrets.X }}`), whatever the name looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub name: String,
    pub line: usize,
    pub secret: bool,
}

/// A variable name: letters, digits and `_`, not starting with a digit.
const NAME: &str = r"([A-Za-z_][A-Za-z0-9_]*)";

/// The patterns, by family. Each is a constant of this file with `NAME` standing for the
/// captured variable name; `tests` compiles every one.
const PYTHON: &[&str] = &[
    // os.environ["X"], environ.get("X"), os.environ.setdefault("X", …), .pop
    r#"\benviron(?:\.get|\.setdefault|\.pop)?\s*[\[(]\s*["']NAME["']"#,
    // os.getenv("X"), getenv("X")
    r#"\bgetenv\s*\(\s*["']NAME["']"#,
];
const JAVASCRIPT: &[&str] = &[
    // process.env.X, import.meta.env.X, Bun.env.X
    r"\b(?:process|import\.meta|Bun)\.env\.NAME",
    // process.env["X"], import.meta.env['X']
    r#"\b(?:process|import\.meta|Bun)\.env\s*\[\s*["'`]NAME["'`]\s*\]"#,
    // Deno.env.get("X")
    r#"\bDeno\.env\.get\s*\(\s*["'`]NAME["'`]"#,
];
const RUST: &[&str] = &[
    // env::var("X"), std::env::var_os("X")
    r#"\benv::var(?:_os)?\s*\(\s*"NAME""#,
    // env!("X"), option_env!("X")
    r#"\b(?:option_)?env!\s*\(\s*"NAME""#,
];
const GO: &[&str] = &[r#"\b(?:os|syscall)\.(?:Getenv|LookupEnv)\s*\(\s*"NAME""#];
const RUBY: &[&str] = &[
    // ENV["X"], ENV.fetch("X"), ENV.key?("X")
    r#"\bENV(?:\.fetch|\.key\?|\.has_key\?|\.include\?)?\s*[\[(]\s*["']NAME["']"#,
];
/// `const { A, B: b, C = "x" } = process.env`: the names inside the braces.
const JS_DESTRUCTURE: &str = r"\{([^{}]*)\}\s*=\s*(?:process|import\.meta|Bun)\.env\b";
/// `$X` and `${X…}`; the character before the `$` is checked apart (no look-behind here).
const SHELL_READ: &str = r"\$(?:\{NAME|NAME)";
/// `X=`, `export X=`, `local X`, `read X`, `for X in`: the script sets X itself.
const SHELL_SET: &str = r"(?:^|[\s;(])(?:(?:export|local|declare|readonly|typeset)\s+(?:-\w+\s+)*)?NAME\+?=|\b(?:read(?:\s+-\w+)*|for|local|declare)\s+NAME\b";
/// `KEY=…` or `export KEY=…` at the start of a dotenv line: the key only.
const DOTENV_KEY: &str = r"^\s*(?:export\s+)?NAME\s*=";

fn compile(pattern: &str) -> Option<Regex> {
    Regex::new(&pattern.replace("NAME", NAME)).ok()
}

/// A table compiled once. A pattern that failed to compile (the tests make sure none does)
/// is left out rather than stopping scaffold in a user's repository.
fn table(patterns: &[&str]) -> Vec<Regex> {
    patterns.iter().filter_map(|p| compile(p)).collect()
}

static PYTHON_RE: LazyLock<Vec<Regex>> = LazyLock::new(|| table(PYTHON));
static JAVASCRIPT_RE: LazyLock<Vec<Regex>> = LazyLock::new(|| table(JAVASCRIPT));
static RUST_RE: LazyLock<Vec<Regex>> = LazyLock::new(|| table(RUST));
static GO_RE: LazyLock<Vec<Regex>> = LazyLock::new(|| table(GO));
static RUBY_RE: LazyLock<Vec<Regex>> = LazyLock::new(|| table(RUBY));
static JS_DESTRUCTURE_RE: LazyLock<Vec<Regex>> = LazyLock::new(|| table(&[JS_DESTRUCTURE]));
static SHELL_READ_RE: LazyLock<Vec<Regex>> = LazyLock::new(|| table(&[SHELL_READ]));
static SHELL_SET_RE: LazyLock<Vec<Regex>> = LazyLock::new(|| table(&[SHELL_SET]));
static DOTENV_KEY_RE: LazyLock<Vec<Regex>> = LazyLock::new(|| table(&[DOTENV_KEY]));

/// Whether a line is wholly a comment in this language.
fn is_comment(lang: Lang, line: &str) -> bool {
    let t = line.trim_start();
    match lang {
        Lang::Javascript | Lang::Rust | Lang::Go => {
            t.starts_with("//") || t.starts_with("/*") || t.starts_with('*')
        }
        _ => t.starts_with('#'),
    }
}

/// The names a source file of `lang` reads, in line order (repeats kept: the caller keeps
/// the first occurrence and counts the rest). Compose files and workflows are `yaml.rs`.
pub fn extract(lang: Lang, text: &str) -> Vec<Hit> {
    match lang {
        Lang::Shell => return shell(text),
        Lang::EnvExample => return dotenv_keys(text),
        Lang::DockerCompose => return super::yaml::compose(text),
        Lang::GithubActions => return super::yaml::workflow(text),
        _ => {}
    }
    let patterns: &[Regex] = match lang {
        Lang::Python => &PYTHON_RE,
        Lang::Javascript => &JAVASCRIPT_RE,
        Lang::Rust => &RUST_RE,
        Lang::Go => &GO_RE,
        Lang::Ruby => &RUBY_RE,
        _ => &[],
    };
    let mut hits = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if is_comment(lang, line) {
            continue;
        }
        let mut found: Vec<(usize, String)> = Vec::new();
        for p in patterns {
            for c in p.captures_iter(line) {
                if let Some(m) = c.get(1) {
                    found.push((m.start(), m.as_str().to_string()));
                }
            }
        }
        if lang == Lang::Javascript {
            found.extend(destructured(line));
        }
        if lang == Lang::Rust {
            // Cargo's own build-time variables are not the project's configuration.
            found.retain(|(_, n)| !n.starts_with("CARGO_") && n != "OUT_DIR");
        }
        found.sort();
        for (_, name) in found {
            hits.push(Hit {
                name,
                line: i + 1,
                secret: false,
            });
        }
    }
    hits
}

/// The names of `{ A, B: b, C = 1, ...rest } = process.env` on one line.
fn destructured(line: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for c in JS_DESTRUCTURE_RE.iter().flat_map(|r| r.captures_iter(line)) {
        let Some(inner) = c.get(1) else { continue };
        let mut at = inner.start();
        for part in inner.as_str().split(',') {
            let name = part.split([':', '=']).next().unwrap_or_default().trim();
            if is_name(name) {
                out.push((at, name.to_string()));
            }
            at += part.len() + 1;
        }
    }
    out
}

pub fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Shell scripts: `$X` and `${X}` for names that look like a project's configuration
/// (see [`shell_config_name`]) and that the script does not set itself.
fn shell(text: &str) -> Vec<Hit> {
    let set: HashSet<&str> = text
        .lines()
        .filter(|l| !is_comment(Lang::Shell, l))
        .flat_map(|l| SHELL_SET_RE.iter().flat_map(move |r| r.captures_iter(l)))
        .filter_map(|c| c.get(1).or_else(|| c.get(2)).map(|m| m.as_str()))
        .collect();
    let mut hits = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if is_comment(Lang::Shell, line) {
            continue;
        }
        let line = strip_shell_comment(line);
        for c in SHELL_READ_RE.iter().flat_map(|r| r.captures_iter(line)) {
            let Some(m) = c.get(1).or_else(|| c.get(2)) else {
                continue;
            };
            // `\$X` is text and `$$` the shell's own process id.
            let dollar = c.get(0).map_or(0, |d| d.start());
            if matches!(
                line.as_bytes().get(dollar.wrapping_sub(1)),
                Some(b'\\' | b'$')
            ) {
                continue;
            }
            let name = m.as_str();
            if shell_config_name(name) && !set.contains(name) {
                hits.push(Hit {
                    name: name.to_string(),
                    line: i + 1,
                    secret: false,
                });
            }
        }
    }
    hits
}

/// The line before a ` #` comment outside quotes (`\#` and `$#` are not comments).
fn strip_shell_comment(line: &str) -> &str {
    let mut quote: Option<u8> = None;
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(b),
            (None, b'#') if i == 0 || bytes[i - 1].is_ascii_whitespace() => return &line[..i],
            _ => {}
        }
    }
    line
}

/// A script's `$lower` and `$I` are its own variables, and `$PATH` is the system's: only
/// upper-case names with an underscore, or ending like a credential or an address, are
/// taken as configuration the script expects from its caller.
pub fn shell_config_name(name: &str) -> bool {
    const SUFFIXES: &[&str] = &["KEY", "TOKEN", "SECRET", "PASSWORD", "URL", "DSN", "HOST"];
    let upper = name
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    upper
        && name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && (name.contains('_') || SUFFIXES.iter().any(|s| name.ends_with(s)))
        && !super::classify::is_system(name)
}

/// The keys of a `.env.example`-style file. The value after `=` is never looked at: such a
/// file is meant to hold placeholders, but a real value pasted into one stays unread.
fn dotenv_keys(text: &str) -> Vec<Hit> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !is_comment(Lang::EnvExample, l))
        .filter_map(|(i, l)| {
            let name = DOTENV_KEY_RE.first()?.captures(l)?.get(1)?.as_str();
            Some(Hit {
                name: name.to_string(),
                line: i + 1,
                secret: false,
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "extract_tests.rs"]
mod tests;
