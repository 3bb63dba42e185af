//! The Claude Code file guard (`kovra hook file-guard`, installed by `kovra setup`): a
//! PreToolUse hook that keeps the agent's file tools away from files that may hold secret values.
//!
//! Input is Claude Code's PreToolUse JSON on stdin (`{"tool_name", "tool_input", "cwd", …}`).
//! Exit 0 allows the call; exit 2 refuses it, with the reason on stderr, which the agent sees.
//! Input the guard cannot read or understand is refused too: it fails closed.
//!
//! What it checks: a path's name (backups and trailing blanks included), the absolute path
//! (credential directories such as `~/.ssh`), and what the path resolves to (so an innocent
//! name linked to `.env` is caught). `Grep` reads contents, so a search over a directory is
//! refused when the directory holds a secret file that the call's `glob` does not provably
//! leave out. `Glob` returns names only, never contents, so only its names are checked.
//!
//! It is a net for careless or steered reads, not a boundary. The agent's shell (`Bash`, which
//! this hook does not inspect: a command line cannot be judged by file names) can read any file
//! of yours, and a link re-pointed between this check and the tool's read is not seen.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

const USE_KOVRA: &str =
    "Use `kovra run` (or the kovra MCP tools) to use secrets without reading them.";

/// Directories whose every file counts as secret.
const SECRET_DIRS: &[&str] = &[".ssh", ".aws", ".kube", ".gnupg"];
/// Names that are secret wherever they are.
const SECRET_NAMES: &[&str] = &[
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".pgpass",
    ".envrc",
    "credentials",
    ".git-credentials",
];
const SECRET_EXTENSIONS: &[&str] = &[".pem", ".key", ".p12", ".pfx"];
/// SSH private key names; `NAME_anything` counts too (`id_rsa_work`), `*.pub` does not.
const SSH_KEYS: &[&str] = &["id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_xmss"];
/// Dotenv templates hold no values.
const TEMPLATES: &[&str] = &[".example", ".sample", ".template"];
/// Suffixes editors, tools and people give copies: `.env.bak`, `id_rsa.old`, `key.pem~`.
const BACKUP_WORDS: &[&str] = &[
    "bak", "backup", "old", "orig", "save", "sav", "tmp", "temp", "swp", "swo", "copy", "prev",
    "previous",
];

/// Characters that render as nothing: `.env\u{200b}` must read as `.env`.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}' | '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}'
    )
}

/// One backup or copy suffix removed, if there is one.
fn strip_backup_suffix(n: &str) -> Option<&str> {
    if let Some(s) = n.strip_suffix('~') {
        // GNU numbered backups: `name.~3~`.
        return Some(match s.rfind(".~") {
            Some(p)
                if p > 0 && s.len() > p + 2 && s[p + 2..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                &s[..p]
            }
            _ => s,
        });
    }
    for sep in ['.', '-', '_', ' '] {
        for word in BACKUP_WORDS {
            let strip = n
                .strip_suffix(word)
                .and_then(|s| s.strip_suffix(sep))
                .filter(|s| !s.is_empty());
            if strip.is_some() {
                return strip;
            }
        }
    }
    // `name.1`, `name (2)`: numbered copies.
    let digits = n.trim_end_matches(|c: char| c.is_ascii_digit());
    if digits.len() < n.len()
        && n.len() - digits.len() <= 3
        && let Some(s) = digits.strip_suffix('.').filter(|s| !s.is_empty())
    {
        return Some(s);
    }
    if let Some(s) = n.strip_suffix(')')
        && let Some(open) = s.rfind(" (")
        && open > 0
        && s[open + 2..].bytes().all(|b| b.is_ascii_digit())
    {
        return Some(&s[..open]);
    }
    None
}

/// A path component as the guard compares it: lower case, without invisible characters,
/// surrounding blanks, trailing dots, editor wrappings (`#name#`, `.#name`) or backup suffixes.
fn normalize(component: &str) -> String {
    let mut n: String = component
        .chars()
        .filter(|c| !invisible(*c))
        .collect::<String>()
        .to_lowercase();
    loop {
        let before = n.clone();
        n = n
            .trim_matches(char::is_whitespace)
            .trim_end_matches('.')
            .trim_end_matches(char::is_whitespace)
            .to_string();
        if let Some(inner) = n.strip_prefix('#').and_then(|s| s.strip_suffix('#')) {
            n = inner.to_string();
        }
        if let Some(inner) = n.strip_prefix(".#") {
            n = inner.to_string();
        }
        if let Some(s) = strip_backup_suffix(&n) {
            n = s.to_string();
        }
        if n == before {
            return n;
        }
    }
}

fn is_ssh_private_key(name: &str) -> bool {
    !name.ends_with(".pub")
        && SSH_KEYS.iter().any(|k| {
            name.strip_prefix(k)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '-', '_', ' ']))
        })
}

/// Files an agent's file tools must not open: dotenv files with values, keys, credentials,
/// anything under a credential directory, and backups or copies of them. `.env.refs`
/// (addresses, no values) and `.env.example`-style templates stay readable.
pub fn is_secret_file(path: &str) -> bool {
    let parts: Vec<String> = path
        .split('/')
        .map(normalize)
        .filter(|c| !c.is_empty())
        .collect();
    let Some(name) = parts.last() else {
        return false;
    };
    parts.iter().any(|c| is_secret_dir(c)) || is_secret_name(name)
}

/// A normalized component naming a credential directory.
fn is_secret_dir(component: &str) -> bool {
    SECRET_DIRS.contains(&component)
}

/// Whether a normalized file name is a secret file's, wherever it is.
fn is_secret_name(name: &str) -> bool {
    if name == ".env.refs" || TEMPLATES.iter().any(|t| name.ends_with(t)) {
        return false;
    }
    name == ".env"
        || name.starts_with(".env.")
        || name.ends_with(".env")
        || SECRET_EXTENSIONS.iter().any(|e| name.ends_with(e))
        || SECRET_NAMES.contains(&name)
        || is_ssh_private_key(name)
}

/// Where relative paths are resolved.
pub struct Ctx {
    /// The process's working directory; the hook input's `cwd` takes precedence.
    pub cwd: Option<PathBuf>,
    /// For `~/…`.
    pub home: Option<PathBuf>,
}

impl Ctx {
    fn absolute(&self, raw: &str) -> Result<PathBuf, String> {
        let expanded = match (raw.strip_prefix('~'), &self.home) {
            (Some(""), Some(h)) => h.clone(),
            (Some(rest), Some(h)) if rest.starts_with('/') => h.join(rest.trim_start_matches('/')),
            _ => PathBuf::from(raw),
        };
        if expanded.is_absolute() {
            return Ok(expanded);
        }
        match &self.cwd {
            Some(cwd) => Ok(cwd.join(expanded)),
            None => Err(malformed(&format!(
                "{raw} is relative and the working directory is unknown"
            ))),
        }
    }
}

fn malformed(what: &str) -> String {
    format!(
        "the file guard refuses this call: {what}, so it cannot tell which files would be opened"
    )
}

fn secret(raw: &str, resolved: Option<&Path>) -> String {
    let via = match resolved {
        Some(p) if p != Path::new(raw) => format!(" (it resolves to {})", p.display()),
        _ => String::new(),
    };
    format!("{raw}{via} may hold secret values, so file tools may not open it. {USE_KOVRA}")
}

/// What `full` names once links are followed: its canonical path when it exists; for a path
/// not created yet or a dangling link, each link target in turn and the canonical parent.
fn resolutions(full: &Path) -> Vec<PathBuf> {
    if let Ok(c) = std::fs::canonicalize(full) {
        return vec![c];
    }
    let mut out = Vec::new();
    let mut p = full.to_path_buf();
    for _ in 0..40 {
        let Ok(target) = std::fs::read_link(&p) else {
            break;
        };
        p = match p.parent() {
            Some(parent) if target.is_relative() => parent.join(target),
            _ => target,
        };
        out.push(p.clone());
    }
    if let (Some(parent), Some(name)) = (p.parent(), p.file_name())
        && let Ok(cp) = std::fs::canonicalize(parent)
    {
        out.push(cp.join(name));
    }
    out
}

/// Refuses `raw` if its name, its absolute path or what it resolves to is a secret file.
/// Returns the absolute path.
fn check_path(raw: &str, cx: &Ctx) -> Result<PathBuf, String> {
    if is_secret_file(raw) {
        return Err(secret(raw, None));
    }
    let full = cx.absolute(raw)?;
    if is_secret_file(&full.to_string_lossy()) {
        return Err(secret(raw, Some(&full)));
    }
    for p in resolutions(&full) {
        if is_secret_file(&p.to_string_lossy()) {
            return Err(secret(raw, Some(&p)));
        }
    }
    Ok(full)
}

/// The bounds of the search for secret files under a `Grep` root. Past them the guard cannot
/// tell, and refuses: a search that large can be narrowed.
pub struct Limits {
    pub entries: usize,
    pub depth: usize,
}

/// Generous enough for most repositories (the directories below are skipped); at the limit the
/// walk takes some 30-70 ms (release build, warm cache), 5 ms for a small project.
pub const LIMITS: Limits = Limits {
    entries: 20_000,
    depth: 32,
};

/// Directories not searched for secret files: version control, dependencies and build output
/// (and Python virtual environments, found by their `pyvenv.cfg`), which a search rarely means
/// and which hold no secrets of the user's.
const SKIP_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    "node_modules",
    "target",
    "__pycache__",
];

/// A secret file found under a search root.
#[derive(Debug)]
pub struct Found {
    /// Relative to the root, `/`-separated: what a `glob` is matched against.
    pub rel: String,
}

#[derive(Debug, Default)]
pub struct Scan {
    pub found: Vec<Found>,
    /// The limits were reached: there may be more.
    pub truncated: bool,
}

/// Every secret file under `root` (an existing directory), links included: a linked file is
/// judged by its name and its target, and a linked directory is searched as well (once).
pub fn scan(root: &Path, limits: &Limits) -> Scan {
    let mut out = Scan::default();
    let mut seen = HashSet::new();
    let real_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    seen.insert(real_root.clone());
    let under_secret_dir = |p: &Path| is_secret_file(&p.join("x").to_string_lossy());
    let root_secret = under_secret_dir(&real_root);
    // (directory, its path relative to the root, depth, inside a credential directory)
    let mut stack = vec![(real_root, String::new(), 0usize, root_secret)];
    let mut entries = 0usize;
    while let Some((dir, rel, depth, in_secret_dir)) = stack.pop() {
        // A directory that cannot be read cannot be searched either.
        let Ok(list) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in list.flatten() {
            entries += 1;
            if entries > limits.entries {
                out.truncated = true;
                return out;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let real = dir.join(&name);
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let (target, is_dir) = if kind.is_symlink() {
                match std::fs::canonicalize(&real) {
                    Ok(t) => {
                        let d = t.is_dir();
                        (t, d)
                    }
                    // Dangling: judged by its name and where it points.
                    Err(_) => (std::fs::read_link(&real).unwrap_or_default(), false),
                }
            } else {
                (real.clone(), kind.is_dir())
            };
            let normalized = normalize(&name);
            if is_dir {
                if SKIP_DIRS.contains(&name.as_str()) || target.join("pyvenv.cfg").exists() {
                    continue;
                }
                if depth + 1 > limits.depth {
                    out.truncated = true;
                    continue;
                }
                let secret = in_secret_dir
                    || is_secret_dir(&normalized)
                    || (kind.is_symlink() && under_secret_dir(&target));
                if seen.insert(target.clone()) {
                    stack.push((target, child_rel, depth + 1, secret));
                }
            } else if in_secret_dir
                || is_secret_name(&normalized)
                || (kind.is_symlink() && is_secret_file(&target.to_string_lossy()))
            {
                out.found.push(Found { rel: child_rel });
            }
        }
    }
    out.found.sort_by(|a, b| a.rel.cmp(&b.rel));
    out
}

/// Whether ripgrep, given `filters` as `--glob` values, provably skips the file at `rel`
/// (relative to the search root; `abs` is its absolute path). A positive glob must be sure not
/// to match it (matched loosely: any case, `*` across `/`, any anchoring); a negated one must be
/// sure to match it (matched exactly, basename globs only). Anything unclear counts as searched.
pub fn excluded(rel: &str, abs: &str, filters: &[&str]) -> bool {
    let (negated, positive): (Vec<&str>, Vec<&str>) =
        filters.iter().partition(|g| g.starts_with('!'));
    let abs_parts: Vec<&str> = abs.split('/').filter(|c| !c.is_empty()).collect();
    if positive.iter().any(|g| glob::may_match(g, &abs_parts)) {
        return false;
    }
    if !positive.is_empty() {
        return true;
    }
    let rel_parts: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
    negated
        .iter()
        .any(|g| glob::surely_matches(&g[1..], &rel_parts))
}

fn grep(root_raw: &str, filters: &[&str], has_type: bool, cx: &Ctx) -> Result<(), String> {
    let root = check_path(root_raw, cx)?;
    match std::fs::metadata(&root) {
        Ok(m) if m.is_dir() => {}
        // A file was checked above; a missing path is an error for the tool, not a read.
        _ => return Ok(()),
    }
    let real = std::fs::canonicalize(&root).unwrap_or_else(|_| root.clone());
    let found = scan(&real, &LIMITS);
    if found.truncated {
        return Err(format!(
            "Grep over {root_raw} covers more than {} entries, too many to check for files that \
             may hold secret values. Search a narrower `path`.",
            LIMITS.entries
        ));
    }
    let exposed: Vec<&str> = found
        .found
        .iter()
        // Both spellings of the root: a glob with a `/` may name directories above it.
        .filter(|f| {
            [&real, &root]
                .iter()
                .any(|r| !excluded(&f.rel, &r.join(&f.rel).to_string_lossy(), filters))
        })
        .map(|f| f.rel.as_str())
        .collect();
    if exposed.is_empty() {
        return Ok(());
    }
    let mut names = exposed
        .iter()
        .take(5)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if exposed.len() > 5 {
        names.push_str(&format!(" and {} more", exposed.len() - 5));
    }
    let type_note = if has_type && filters.is_empty() {
        " (a `type` filter is not checked; use `glob`)"
    } else {
        ""
    };
    Err(format!(
        "Grep over {root_raw} would read files that may hold secret values: {names}. Search a \
         narrower `path`, or pass a `glob` that leaves them out, such as \"*.rs\" for the files \
         you need or \"!.env*\" to skip dotenv files{type_note}. {USE_KOVRA}"
    ))
}

/// The verdict on one hook input: `Err` holds the reason to refuse.
pub fn check_call(input: &str, cx: &Ctx) -> Result<(), String> {
    let call: Value = serde_json::from_str(input)
        .map_err(|e| malformed(&format!("its input is not JSON ({e})")))?;
    let tool = call
        .get("tool_name")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("`tool_name` is missing"))?;
    let args = call
        .get("tool_input")
        .and_then(Value::as_object)
        .ok_or_else(|| malformed("`tool_input` is missing or not an object"))?;
    let cwd = match call.get("cwd") {
        None | Some(Value::Null) => cx.cwd.clone(),
        Some(Value::String(c)) => Some(match &cx.cwd {
            Some(base) => base.join(c),
            None => PathBuf::from(c),
        }),
        Some(_) => return Err(malformed("`cwd` is not a string")),
    };
    let cx = Ctx {
        cwd,
        home: cx.home.clone(),
    };
    let field = |key: &str| field(args, key);
    match tool {
        "Grep" => {
            // `pattern` is a regular expression over contents, not a path.
            let root = field("path")?.unwrap_or(".");
            let filters: Vec<&str> = [field("glob")?, field("include")?]
                .into_iter()
                .flatten()
                .collect();
            grep(root, &filters, field("type")?.is_some(), &cx)
        }
        "Glob" => {
            let root = field("path")?;
            if let Some(root) = root {
                check_path(root, &cx)?;
            }
            // Names only: a glob that spells a secret file's name shows the intent.
            if let Some(pattern) = field("pattern")? {
                let joined = root.map_or(pattern.to_string(), |r| format!("{r}/{pattern}"));
                if is_secret_file(pattern) || is_secret_file(&joined) {
                    return Err(secret(pattern, None));
                }
            }
            Ok(())
        }
        _ => {
            let required = match tool {
                "Read" | "Edit" | "MultiEdit" | "Write" => Some("file_path"),
                "NotebookEdit" | "NotebookRead" => Some("notebook_path"),
                _ => None,
            };
            if let Some(key) = required
                && field(key)?.is_none()
            {
                return Err(malformed(&format!("{tool} without `{key}`")));
            }
            for key in ["file_path", "notebook_path", "path"] {
                if let Some(raw) = field(key)? {
                    check_path(raw, &cx)?;
                }
            }
            match field("pattern")? {
                Some(p) if is_secret_file(p) => Err(secret(p, None)),
                _ => Ok(()),
            }
        }
    }
}

/// A string field of the tool input; present but not a string is malformed.
fn field<'a>(args: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, String> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(malformed(&format!("`{key}` is not a string"))),
    }
}

/// The hook: reads the tool call on stdin, returns the exit code (0 allow, 2 refuse).
pub fn run() -> u8 {
    let mut input = String::new();
    let cx = Ctx {
        cwd: std::env::current_dir().ok(),
        home: std::env::var_os("HOME").map(PathBuf::from),
    };
    let verdict = match std::io::Read::read_to_string(&mut std::io::stdin(), &mut input) {
        Ok(_) => check_call(&input, &cx),
        Err(e) => Err(malformed(&format!("its input cannot be read ({e})"))),
    };
    match verdict {
        Ok(()) => 0,
        Err(reason) => {
            eprintln!("kovra: {reason}");
            2
        }
    }
}

/// Just enough of ripgrep's `--glob` syntax (gitignore rules: a glob without `/` matches a name
/// at any depth; `*`, `?`, `[…]`, `{a,b}`, `**`) to decide, for a file already found, whether a
/// search would skip it. Each answer errs toward "searched".
mod glob;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
