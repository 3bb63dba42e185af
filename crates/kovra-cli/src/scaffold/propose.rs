//! From names to refs lines. The choices, in one place:
//!
//! - **Secrets** (the name says so, a workflow reads it as `secrets.X`, a provider claims
//!   it, or the vault already holds a record of that name) become `secret:${ENV}/GROUP/name`,
//!   with an `env = ENV` line (default `dev`), so one file serves every environment.
//! - **GROUP**: an existing record's own group; for a name a provider claims, the provider
//!   (`secret:${ENV}/openai/openai_api_key`, where `kovra api openai` looks first); else
//!   `--group`, by default the project directory's name in lower case (`app` when that name
//!   makes no coordinate segment). The key is the name in lower case, as the docs write keys.
//! - **Existing records**: a record whose key is the name (any case), preferring one in
//!   ENV; a database connection record gets `#url` (kovra's proxy: the password stays out).
//! - **Everything else** is a commented `NAME=${env:NAME}` suggestion. An ordinary run
//!   inherits the caller's environment anyway; a protected one starts clean and needs the
//!   line. Left commented because an uncommented pass-through of an unset variable would
//!   stop every run until someone sets it.
//!
//! Each line is preceded by a comment saying where the name was first read and what it maps
//! to: a refs line takes no trailing comment after a coordinate.

use std::collections::BTreeMap;

use kovra_core::coord::Coordinate;
use kovra_core::model::RecordKind;
use serde::Serialize;

use super::{Found, Lang, Scan};

/// What the caller chose.
#[derive(Debug, Clone)]
pub struct Options {
    /// The scanned directory, as shown.
    pub root: String,
    /// The `env = …` line, and the environment existing records are looked for first.
    pub env: String,
    /// The group of new secrets no provider claims.
    pub group: String,
    /// A `project = …` line (the `--project` the command was given).
    pub project: Option<String>,
}

/// What the vault knows, asked for by the command (names and metadata only).
#[derive(Debug, Default)]
pub struct Known {
    /// (coordinate, vault, kind) of every record the caller may list.
    pub records: Vec<(Coordinate, String, RecordKind)>,
    /// Claimed name (upper case) → provider.
    pub claims: BTreeMap<String, String>,
    /// Why the vault could not be asked, when it could not.
    pub unavailable: Option<String>,
}

/// The proposal: the refs text and, for `--json`, each variable's reasoning.
#[derive(Debug, Serialize)]
pub struct Proposal {
    pub root: String,
    pub env: String,
    pub group: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    pub files_read: usize,
    pub variables: Vec<Variable>,
    pub notes: Vec<String>,
    /// The proposed `.env.refs`, exactly as printed or written.
    pub refs: String,
    /// Where it was written (`--write`), if it was.
    pub written: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Variable {
    pub name: String,
    /// `secret` or `config`.
    pub class: &'static str,
    /// The right-hand side of its refs line.
    pub value: String,
    /// Proposed as a comment (configuration), not as a live line.
    pub commented: bool,
    pub file: String,
    pub line: usize,
    pub lang: Lang,
    pub occurrences: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    pub mapping: Mapping,
}

/// How a variable's line came about.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Mapping {
    /// A record of that name exists: this is its coordinate.
    Existing { coordinate: String, vault: String },
    /// A new record to add at this coordinate.
    New { coordinate: String },
    /// Passed through from the caller's environment.
    PassThrough,
}

/// Build the proposal.
pub fn propose(scan: &Scan, known: &Known, opts: &Options) -> Proposal {
    let mut variables: Vec<Variable> = scan
        .found
        .iter()
        .map(|f| variable(f, known, opts))
        .collect();
    // Live lines first, then the commented suggestions; by name within each.
    variables.sort_by(|a, b| a.commented.cmp(&b.commented).then(a.name.cmp(&b.name)));
    let notes = notes(scan, known);
    let refs = text(&variables, &notes, scan, opts);
    Proposal {
        root: opts.root.clone(),
        env: opts.env.clone(),
        group: opts.group.clone(),
        project: opts.project.clone(),
        files_read: scan.files_read,
        variables,
        notes,
        refs,
        written: None,
    }
}

/// The group new secrets go in: the directory's name as a coordinate segment, else `app`.
pub fn default_group(dir_name: Option<&str>) -> String {
    let Some(name) = dir_name else {
        return "app".into();
    };
    let cleaned: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let cleaned = cleaned.trim_matches(['-', '.']).to_string();
    if cleaned.is_empty() || Coordinate::parse(&format!("secret:dev/{cleaned}/x")).is_err() {
        "app".into()
    } else {
        cleaned
    }
}

fn variable(f: &Found, known: &Known, opts: &Options) -> Variable {
    let provider = known.claims.get(&f.name.to_ascii_uppercase()).cloned();
    let existing = existing(&f.name, known, &opts.env);
    let secret = existing.is_some()
        || provider.is_some()
        || f.marked_secret
        || super::classify::looks_secret(&f.name);
    let key = f.name.to_ascii_lowercase();
    let (value, mapping) = match (existing, secret) {
        (Some((coord, vault, kind)), _) => {
            let url = if *kind == RecordKind::Postgres {
                "#url"
            } else {
                ""
            };
            (
                format!("secret:${{ENV}}/{}/{}{url}", coord.group(), coord.key()),
                Mapping::Existing {
                    coordinate: coord.to_string(),
                    vault: vault.clone(),
                },
            )
        }
        (None, true) => {
            let group = provider.as_deref().unwrap_or(&opts.group);
            (
                format!("secret:${{ENV}}/{group}/{key}"),
                Mapping::New {
                    coordinate: format!("secret:{}/{group}/{key}", opts.env),
                },
            )
        }
        (None, false) => (format!("${{env:{}}}", f.name), Mapping::PassThrough),
    };
    Variable {
        name: f.name.clone(),
        class: if secret { "secret" } else { "config" },
        commented: matches!(mapping, Mapping::PassThrough),
        value,
        file: f.file.clone(),
        line: f.line,
        lang: f.lang,
        occurrences: f.occurrences,
        provider,
        mapping,
    }
}

/// The record a name maps to: its key is the name (any case); one in `env` first.
fn existing<'a>(
    name: &str,
    known: &'a Known,
    env: &str,
) -> Option<&'a (Coordinate, String, RecordKind)> {
    let mut matching = known
        .records
        .iter()
        .filter(|(c, _, _)| c.key().eq_ignore_ascii_case(name));
    let first = matching.clone().find(|(c, _, _)| c.env() == env);
    first.or_else(|| matching.next())
}

fn notes(scan: &Scan, known: &Known) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(why) = &known.unavailable {
        notes.push(format!(
            "the vault was not consulted ({why}): no name is mapped to an existing record"
        ));
    }
    for file in &scan.env_files_skipped {
        notes.push(format!(
            "{file} skipped: it holds values, and scaffold never reads one"
        ));
    }
    if !scan.system.is_empty() {
        let names: Vec<&str> = scan.system.iter().map(String::as_str).collect();
        notes.push(format!("system variables left out: {}", names.join(", ")));
    }
    if scan.found.is_empty() {
        notes.push("no environment read was found".into());
    }
    notes
}

fn text(variables: &[Variable], notes: &[String], scan: &Scan, opts: &Options) -> String {
    let mut out = String::new();
    let files = if scan.files_read == 1 {
        "file"
    } else {
        "files"
    };
    out.push_str(&format!(
        "# Proposed by `kovra scaffold` from {} {files} under {} (names only: no value was read).\n",
        scan.files_read, opts.root
    ));
    out.push_str("# Review it, `kovra add` each new record named below, then `kovra doctor`.\n");
    out.push_str(&format!("env = {}\n", opts.env));
    if let Some(p) = &opts.project {
        out.push_str(&format!("project = {p}\n"));
    }
    let (live, commented): (Vec<&Variable>, Vec<&Variable>) =
        variables.iter().partition(|v| !v.commented);
    if !live.is_empty() {
        out.push_str("\n# Secrets\n");
    }
    for v in live {
        out.push_str(&format!(
            "# {}\n{}={}\n",
            about(v, &opts.env),
            v.name,
            v.value
        ));
    }
    if !commented.is_empty() {
        out.push_str(
            "\n# Configuration, not secrets: a run inherits these from your environment.\n\
             # Uncomment one to pass it into protected runs too (they start with a clean environment).\n",
        );
    }
    for v in commented {
        out.push_str(&format!(
            "# {}\n# {}={}\n",
            about(v, &opts.env),
            v.name,
            v.value
        ));
    }
    if !notes.is_empty() {
        out.push('\n');
    }
    for n in notes {
        out.push_str(&format!("# note: {n}\n"));
    }
    out
}

/// `NAME: file:line (lang, N reads); what it maps to`.
fn about(v: &Variable, env: &str) -> String {
    let reads = match v.occurrences {
        1 => String::new(),
        n => format!(", {n} reads"),
    };
    let what = match &v.mapping {
        Mapping::Existing { coordinate, vault } => {
            // Found in another environment only: the line names its group and key, and the
            // record still has to be made in this one.
            let elsewhere = Coordinate::parse(coordinate).is_ok_and(|c| c.env() != env);
            let missing = if elsewhere {
                format!("; none in {env} yet")
            } else {
                String::new()
            };
            format!("existing record {coordinate} ({vault}){missing}")
        }
        Mapping::New { coordinate } => match &v.provider {
            Some(p) => format!("new: `kovra add {coordinate}` (claimed by provider {p})"),
            None => format!("new: `kovra add {coordinate}`"),
        },
        Mapping::PassThrough => "passed through".into(),
    };
    format!(
        "{}: {}:{} ({}{reads}); {what}",
        v.name,
        v.file,
        v.line,
        v.lang.as_str()
    )
}

/// Names of the proposal's variables, for a summary line.
pub fn counts(p: &Proposal) -> (usize, usize, usize) {
    let secrets = p.variables.iter().filter(|v| v.class == "secret").count();
    let existing = p
        .variables
        .iter()
        .filter(|v| matches!(v.mapping, Mapping::Existing { .. }))
        .count();
    (secrets, existing, p.variables.len() - secrets)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "propose_tests.rs"]
mod tests;
