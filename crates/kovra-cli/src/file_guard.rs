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
mod glob {
    #[derive(Debug)]
    enum Tok {
        Lit(char),
        /// `?`
        One,
        /// `*`
        Star,
        Class {
            negated: bool,
            ranges: Vec<(char, char)>,
        },
        /// `**` as a whole glob or a trailing component: anything, `/` included.
        AnyPath,
        /// `**/` leading or in the middle: nothing, or any run of components with their `/`.
        Dirs,
    }

    const MAX_ALTERNATIVES: usize = 64;

    /// `{a,b}` expanded (not nested). `None`: unbalanced, nested or too many.
    fn expand(glob: &str) -> Option<Vec<String>> {
        let Some(open) = glob.find('{') else {
            return (!glob.contains('}')).then(|| vec![glob.to_string()]);
        };
        let close = open + glob[open..].find('}')?;
        let inner = &glob[open + 1..close];
        if inner.contains('{') {
            return None;
        }
        let mut out = Vec::new();
        for rest in expand(&glob[close + 1..])? {
            for alt in inner.split(',') {
                out.push(format!("{}{alt}{rest}", &glob[..open]));
                if out.len() > MAX_ALTERNATIVES {
                    return None;
                }
            }
        }
        if glob[..open].contains('}') {
            return None;
        }
        Some(out)
    }

    /// One brace-free glob as tokens. `loose`: where the syntax is unclear, match more.
    fn parse(p: &str, loose: bool) -> Option<Vec<Tok>> {
        let comps: Vec<&str> = p.split('/').collect();
        let n = comps.len();
        let mut toks = Vec::new();
        let mut slash_next = false;
        for (i, comp) in comps.iter().enumerate() {
            if *comp == "**" {
                if n == 1 || i == n - 1 {
                    if slash_next {
                        toks.push(Tok::Lit('/'));
                    }
                    toks.push(Tok::AnyPath);
                } else {
                    if slash_next {
                        toks.push(Tok::Lit('/'));
                    }
                    toks.push(Tok::Dirs);
                    slash_next = false;
                    continue;
                }
                slash_next = true;
                continue;
            }
            if slash_next {
                toks.push(Tok::Lit('/'));
            }
            slash_next = true;
            let chars: Vec<char> = comp.chars().collect();
            let mut j = 0;
            while j < chars.len() {
                match chars[j] {
                    '*' if chars.get(j + 1) == Some(&'*') => {
                        if !loose {
                            return None;
                        }
                        toks.push(Tok::AnyPath);
                        while chars.get(j) == Some(&'*') {
                            j += 1;
                        }
                        continue;
                    }
                    '*' => toks.push(Tok::Star),
                    '?' => toks.push(Tok::One),
                    '\\' => return None,
                    '[' => {
                        let (tok, next) = class(&chars, j)?;
                        toks.push(tok);
                        j = next;
                        continue;
                    }
                    c => toks.push(Tok::Lit(c)),
                }
                j += 1;
            }
        }
        Some(toks)
    }

    /// A `[…]` class starting at `chars[start]`; returns it and the index after `]`.
    fn class(chars: &[char], start: usize) -> Option<(Tok, usize)> {
        let mut j = start + 1;
        let negated = matches!(chars.get(j), Some('!' | '^'));
        if negated {
            j += 1;
        }
        let mut ranges = Vec::new();
        let mut first = true;
        loop {
            let c = *chars.get(j)?;
            if c == ']' && !first {
                return Some((Tok::Class { negated, ranges }, j + 1));
            }
            first = false;
            if chars.get(j + 1) == Some(&'-') && chars.get(j + 2).is_some_and(|d| *d != ']') {
                ranges.push((c, *chars.get(j + 2)?));
                j += 3;
            } else {
                ranges.push((c, c));
                j += 1;
            }
        }
    }

    fn char_eq(a: char, b: char, loose: bool) -> bool {
        a == b || (loose && a.to_lowercase().eq(b.to_lowercase()))
    }

    fn in_class(c: char, negated: bool, ranges: &[(char, char)], loose: bool) -> bool {
        let variants: Vec<char> = if loose {
            std::iter::once(c)
                .chain(c.to_lowercase())
                .chain(c.to_uppercase())
                .collect()
        } else {
            vec![c]
        };
        let hit = variants
            .iter()
            .any(|v| ranges.iter().any(|(lo, hi)| lo <= v && v <= hi));
        // Loosely, a negated class may match whatever a variant misses.
        if negated {
            if loose {
                variants
                    .iter()
                    .any(|v| !ranges.iter().any(|(lo, hi)| lo <= v && v <= hi))
            } else {
                !hit
            }
        } else {
            hit
        }
    }

    /// Whether `toks` match all of `s`.
    fn matches(toks: &[Tok], s: &[char], loose: bool) -> bool {
        let n = s.len();
        // dp[j]: the tokens from the current one on match s[j..].
        let mut next = vec![false; n + 1];
        next[n] = true;
        for tok in toks.iter().rev() {
            let mut cur = vec![false; n + 1];
            for j in (0..=n).rev() {
                let c = s.get(j).copied();
                cur[j] = match tok {
                    Tok::Lit(l) => c.is_some_and(|c| char_eq(c, *l, loose)) && next[j + 1],
                    Tok::One => c.is_some_and(|c| c != '/') && next[j + 1],
                    Tok::Class { negated, ranges } => {
                        c.is_some_and(|c| c != '/' && in_class(c, *negated, ranges, loose))
                            && next[j + 1]
                    }
                    Tok::Star => next[j] || (c.is_some_and(|c| c != '/' || loose) && cur[j + 1]),
                    Tok::AnyPath => next[j] || (c.is_some() && cur[j + 1]),
                    Tok::Dirs => next[j] || (j + 1..=n).any(|k| s[k - 1] == '/' && next[k]),
                };
            }
            next = cur;
        }
        next[0]
    }

    /// A glob split into its alternatives and flags: (alternatives, directory only).
    fn prepare(glob: &str) -> Option<(Vec<String>, bool)> {
        let dir_only = glob.ends_with('/');
        let glob = glob.trim_end_matches('/');
        if glob.is_empty() || glob.len() > 1024 {
            return None;
        }
        Some((expand(glob)?, dir_only))
    }

    /// Whether `glob` might match the entry whose absolute path has the components `parts`, or
    /// any directory above it. Loose in case and `/`, and tried against every anchoring, since
    /// ripgrep's root for globs with a `/` (search root or working directory) is not ours to see.
    pub fn may_match(glob: &str, parts: &[&str]) -> bool {
        let Some((alternatives, dir_only)) = prepare(glob) else {
            return true;
        };
        let n = parts.len();
        for alt in &alternatives {
            let anchored = alt.contains('/');
            let alt = alt.trim_start_matches('/');
            let Some(toks) = parse(alt, true) else {
                return true;
            };
            for end in 1..=n {
                if dir_only && end == n {
                    continue;
                }
                let starts = if anchored { 0..end } else { end - 1..end };
                for start in starts {
                    let s: Vec<char> = parts[start..end].join("/").chars().collect();
                    if matches(&toks, &s, true) {
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Whether `glob` (without its `!`) surely matches the entry at `rel` or a directory above it
    /// inside the search root. Only globs without `/` are judged (they match a name at any depth);
    /// exact in case and syntax.
    pub fn surely_matches(glob: &str, rel: &[&str]) -> bool {
        let Some((alternatives, dir_only)) = prepare(glob) else {
            return false;
        };
        let n = rel.len();
        alternatives.iter().any(|alt| {
            if alt.contains('/') {
                return false;
            }
            let Some(toks) = parse(alt, false) else {
                return false;
            };
            rel.iter().enumerate().any(|(i, name)| {
                !(dir_only && i + 1 == n)
                    && matches(&toks, &name.chars().collect::<Vec<_>>(), false)
            })
        })
    }

    #[cfg(test)]
    #[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    mod tests {
        use super::*;

        fn may(glob: &str, path: &str) -> bool {
            let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
            may_match(glob, &parts)
        }

        fn surely(glob: &str, rel: &str) -> bool {
            surely_matches(glob, &rel.split('/').collect::<Vec<_>>())
        }

        #[test]
        fn positive_globs_match_loosely() {
            assert!(may("*.rs", "/p/src/main.rs"));
            assert!(!may("*.rs", "/p/.env"));
            assert!(may("*", "/p/.env"));
            assert!(may("*.{ts,tsx}", "/p/a/b.tsx"));
            assert!(!may("*.{ts,tsx}", "/p/config/.env.local"));
            assert!(may("*.ENV", "/p/prod.env"), "any case");
            assert!(may("src/**", "/p/src/deep/.env"), "any anchoring");
            assert!(may("config", "/p/config/.env"), "a directory above");
            assert!(!may("src/**/*.ts", "/p/config/.env"));
            assert!(may(".env*", "/p/.env.production"));
            assert!(may("[.]env", "/p/.env"));
            assert!(!may("[!.]env", "/p/.env"));
            assert!(may("a\\*", "/p/.env"), "unclear syntax counts as a match");
            assert!(may("{a,{b,c}}", "/p/.env"));
            assert!(may("**", "/p/.env"));
            assert!(may("**/.env", "/p/x/.env"));
        }

        #[test]
        fn negated_globs_match_exactly_or_not_at_all() {
            assert!(surely(".env*", ".env"));
            assert!(surely(".env*", "config/.env.local"));
            assert!(!surely(".env", ".env.local"));
            assert!(surely("{.env*,*.pem}", "certs/key.pem"));
            assert!(surely("config", "config/.env"), "a directory above");
            assert!(
                !surely("config/", "config"),
                "directory-only glob on a file"
            );
            assert!(!surely("*.ENV", "prod.env"), "case-sensitive");
            assert!(
                !surely("config/.env", "config/.env"),
                "anchored globs are not judged"
            );
            assert!(!surely("**.env", "a.env"));
            assert!(surely("*.env", "prod.env"));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn secret_files_are_recognised() {
        for p in [
            ".env",
            "app/.env.local",
            "prod.env",
            "id_ed25519",
            "/home/u/.aws/credentials",
            "tls.key",
            "cert.pem",
        ] {
            assert!(is_secret_file(p), "{p}");
        }
        for p in [
            ".env.refs",
            ".env.example",
            "src/main.rs",
            "README.md",
            "environment.ts",
        ] {
            assert!(!is_secret_file(p), "{p}");
        }
    }

    #[test]
    fn backups_copies_and_blanks_are_still_secret() {
        for p in [
            ".env ",
            ".env\t",
            " .env",
            ".env.",
            ".env. .",
            ".env\u{200b}",
            ".ENV",
            "prod.env.bak",
            "x/staging.env.old",
            ".env.production.bak",
            ".env.bak",
            ".env~",
            ".env.~2~",
            "#.env#",
            ".#.env",
            "id_ed25519.bak",
            "id_rsa.old",
            "id_rsa~",
            "id_rsa.1",
            "id_rsa (1)",
            "id_rsa_work",
            "id_ecdsa_sk",
            "key.pem~",
            "key.pem.orig",
            "tls.key.backup",
            "credentials.bak",
            ".ssh/config",
            "/home/u/.ssh",
            "~/.kube/config",
            ".gnupg/private-keys-v1.d/x.key",
            ".pgpass",
            ".envrc",
        ] {
            assert!(is_secret_file(p), "{p:?}");
        }
        for p in [
            ".env.refs",
            ".env.example",
            ".env.sample",
            ".env.template",
            ".ENV.EXAMPLE",
            ".env.example.bak",
            "id_rsa.pub",
            "id_ed25519.pub",
            "environment.old.ts",
            "src/env.rs",
            "notes.bak",
            "Cargo.toml",
            "process.env.ts",
        ] {
            assert!(!is_secret_file(p), "{p:?}");
        }
    }

    fn cx(dir: &Path) -> Ctx {
        Ctx {
            cwd: Some(dir.to_path_buf()),
            home: None,
        }
    }

    fn call(tool: &str, input: Value, cwd: Option<&Path>) -> String {
        let mut v = serde_json::json!({"tool_name": tool, "tool_input": input});
        if let Some(c) = cwd {
            v["cwd"] = Value::String(c.display().to_string());
        }
        v.to_string()
    }

    #[test]
    fn links_with_innocent_names_are_judged_by_their_target() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::write(p.join(".env"), "K=v\n").unwrap();
        std::fs::create_dir(p.join(".ssh")).unwrap();
        std::fs::write(p.join(".ssh/config"), "Host x").unwrap();
        symlink(".env", p.join("notes.txt")).unwrap();
        symlink(".ssh", p.join("docs")).unwrap();
        symlink("missing/.env.local", p.join("later.txt")).unwrap();
        std::fs::write(p.join("plain.txt"), "hello").unwrap();
        let nowhere = Ctx {
            cwd: Some(PathBuf::from("/")),
            home: None,
        };
        for (input, cwd, refused) in [
            (serde_json::json!({"file_path": "notes.txt"}), Some(p), true),
            (
                serde_json::json!({"file_path": p.join("notes.txt")}),
                None,
                true,
            ),
            (
                serde_json::json!({"file_path": "docs/config"}),
                Some(p),
                true,
            ),
            (serde_json::json!({"file_path": "later.txt"}), Some(p), true),
            (
                serde_json::json!({"file_path": "plain.txt"}),
                Some(p),
                false,
            ),
            (serde_json::json!({"file_path": "new.txt"}), Some(p), false),
        ] {
            let verdict = check_call(&call("Read", input.clone(), cwd), &nowhere);
            assert_eq!(verdict.is_err(), refused, "{input}: {verdict:?}");
        }
        // Without a `cwd` field, relative paths resolve against the process's directory.
        let input = call("Write", serde_json::json!({"file_path": "notes.txt"}), None);
        let reason = check_call(&input, &cx(p)).unwrap_err();
        assert!(
            reason.contains("resolves to") && reason.contains(".env"),
            "{reason}"
        );
    }

    #[test]
    fn grep_over_a_directory_with_secret_files_needs_a_glob_that_leaves_them_out() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::create_dir_all(p.join("src")).unwrap();
        std::fs::create_dir_all(p.join("config/deep")).unwrap();
        std::fs::write(p.join("src/main.rs"), "fn main() {}").unwrap();
        std::fs::write(p.join("config/deep/.env.local"), "K=v").unwrap();
        let grep = |input: Value| check_call(&call("Grep", input, Some(p)), &cx(p));
        let reason = grep(serde_json::json!({"pattern": "K="})).unwrap_err();
        assert!(reason.contains("config/deep/.env.local"), "{reason}");
        assert!(grep(serde_json::json!({"pattern": "K=", "path": "src"})).is_ok());
        assert!(grep(serde_json::json!({"pattern": "K=", "glob": "*.rs"})).is_ok());
        assert!(grep(serde_json::json!({"pattern": "K=", "include": "*.{rs,toml}"})).is_ok());
        assert!(grep(serde_json::json!({"pattern": "K=", "glob": "!.env*"})).is_ok());
        assert!(grep(serde_json::json!({"pattern": "K=", "glob": "!.env"})).is_err());
        assert!(grep(serde_json::json!({"pattern": "K=", "glob": "**/*"})).is_err());
        let typed = grep(serde_json::json!({"pattern": "K=", "type": "rust"})).unwrap_err();
        assert!(typed.contains("`type`"), "{typed}");
        // A regular expression is not a path: searching for `process.env` is fine.
        assert!(grep(serde_json::json!({"pattern": "process.env", "path": "src"})).is_ok());
        // A Grep on one file is judged like a read.
        assert!(
            grep(serde_json::json!({"pattern": "K", "path": "config/deep/.env.local"})).is_err()
        );
        // What a search skips is not looked at; a link inside the tree is.
        std::fs::remove_file(p.join("config/deep/.env.local")).unwrap();
        std::fs::create_dir_all(p.join("node_modules/x")).unwrap();
        std::fs::write(p.join("node_modules/x/.env"), "K=v").unwrap();
        assert!(grep(serde_json::json!({"pattern": "K="})).is_ok());
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("prod.env"), "K=v").unwrap();
        symlink(outside.path().join("prod.env"), p.join("src/notes.rs")).unwrap();
        let reason = grep(serde_json::json!({"pattern": "K=", "glob": "*.rs"})).unwrap_err();
        assert!(reason.contains("src/notes.rs"), "{reason}");
    }

    #[test]
    fn a_scan_past_its_limits_is_refused() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..10 {
            std::fs::write(d.path().join(format!("f{i}.rs")), "").unwrap();
        }
        let s = scan(
            d.path(),
            &Limits {
                entries: 5,
                depth: 4,
            },
        );
        assert!(s.truncated);
        std::fs::create_dir_all(d.path().join("a/b/c")).unwrap();
        std::fs::write(d.path().join("a/b/c/.env"), "").unwrap();
        let s = scan(
            d.path(),
            &Limits {
                entries: 100,
                depth: 2,
            },
        );
        assert!(s.truncated && s.found.is_empty());
        let s = scan(d.path(), &LIMITS);
        assert!(!s.truncated);
        assert_eq!(s.found.len(), 1);
        assert_eq!(s.found[0].rel, "a/b/c/.env");
    }

    #[test]
    fn glob_lists_names_and_is_refused_only_for_secret_names() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(".env"), "K=v").unwrap();
        let glob = |input: Value| check_call(&call("Glob", input, Some(d.path())), &cx(d.path()));
        assert!(glob(serde_json::json!({"pattern": "**/*.rs"})).is_ok());
        // Listing names shows no value, so a wildcard that also lists `.env` is fine; a
        // pattern that spells a secret file's name is refused, as it always was.
        assert!(glob(serde_json::json!({"pattern": "**/.env*"})).is_ok());
        assert!(glob(serde_json::json!({"pattern": "**/.env"})).is_err());
        assert!(glob(serde_json::json!({"pattern": "*.pem", "path": "certs"})).is_err());
        assert!(glob(serde_json::json!({"pattern": "*", "path": "~/.ssh"})).is_err());
        assert!(glob(serde_json::json!({"pattern": "*", "path": d.path().join(".ssh")})).is_err());
    }

    #[test]
    fn malformed_input_is_refused() {
        let c = cx(Path::new("/"));
        for input in [
            "",
            "not json",
            "[]",
            r#"{"tool_input": {"file_path": "a"}}"#,
            r#"{"tool_name": "Read"}"#,
            r#"{"tool_name": "Read", "tool_input": "a"}"#,
            r#"{"tool_name": "Read", "tool_input": {}}"#,
            r#"{"tool_name": "Read", "tool_input": {"file_path": 7}}"#,
            r#"{"tool_name": "Grep", "tool_input": {"pattern": "x", "glob": ["*.rs"]}}"#,
            r#"{"tool_name": "Read", "tool_input": {"file_path": "a"}, "cwd": 1}"#,
        ] {
            let reason = check_call(input, &c).unwrap_err();
            assert!(reason.contains("refuses this call"), "{input}: {reason}");
        }
        let nowhere = Ctx {
            cwd: None,
            home: None,
        };
        let relative = r#"{"tool_name": "Read", "tool_input": {"file_path": "a.txt"}}"#;
        assert!(check_call(relative, &nowhere).is_err());
        let absolute =
            r#"{"tool_name": "Read", "tool_input": {"file_path": "/nonexistent/a.txt"}}"#;
        assert!(check_call(absolute, &nowhere).is_ok());
    }
}
