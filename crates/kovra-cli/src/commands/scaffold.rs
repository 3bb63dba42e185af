//! `kovra scaffold [PATH]`: read the project's code for environment reads (`crate::scaffold`),
//! ask the daemon which records and provider claims exist (metadata only), and print the
//! proposed `.env.refs` or write it (`--write`, never over a file without `--force`).

use std::io::Write;
use std::path::{Path, PathBuf};

use kovra_core::coord::Coordinate;
use kovra_proto::{ErrorCode, RecordView, Reply, Request};

use crate::cli_scaffold::ScaffoldArgs;
use crate::error::CliError;
use crate::render::{Renderer, View};
use crate::scaffold::{self, Known, Options};
use crate::session::Session;

pub fn run(
    s: &mut Session,
    args: ScaffoldArgs,
    project: Option<String>,
    out: &Renderer,
) -> Result<(), CliError> {
    kovra_core::coord::validate_env(&args.env_name)?;
    let root = root(args.path.as_deref())?;
    let group = match args.group {
        Some(g) => {
            Coordinate::parse(&format!("secret:{}/{g}/x", args.env_name))?;
            g
        }
        None => scaffold::default_group(root.file_name().and_then(|n| n.to_str())),
    };
    let target = root.join(".env.refs");
    // Refused before any work: the answer would not change.
    if args.write && !args.force && target.exists() {
        return Err(exists(&target));
    }
    let scan = scaffold::scan(&root);
    let known = known(s);
    let opts = Options {
        root: scaffold::one_line(&root.display().to_string()),
        env: args.env_name,
        group,
        project,
    };
    let mut proposal = scaffold::propose(&scan, &known, &opts);
    if args.write {
        write_refs(&target, &proposal.refs, args.force)?;
        proposal.written = Some(scaffold::one_line(&target.display().to_string()));
    }
    out.show(View::Scaffold(&proposal))?;
    if !out.is_json() {
        let (secrets, existing, config) = scaffold::counts(&proposal);
        let outcome = match &proposal.written {
            Some(path) => format!("wrote {path}"),
            None => "proposed (review it, then `kovra scaffold --write`)".into(),
        };
        eprintln!(
            "kovra: {outcome}: {secrets} secret(s), {existing} of them existing records; {config} configuration name(s), commented"
        );
        if let Some(why) = &known.unavailable {
            eprintln!("kovra: warning: the vault was not consulted ({why})");
        }
    }
    Ok(())
}

/// The directory to read: PATH, or the current directory.
fn root(path: Option<&Path>) -> Result<PathBuf, CliError> {
    let dir = match path {
        Some(p) => p.to_path_buf(),
        None => std::env::current_dir().map_err(|e| {
            CliError::new(
                ErrorCode::IoError,
                format!("cannot read the current directory: {e}"),
                None,
            )
        })?,
    };
    if !dir.is_dir() {
        return Err(CliError::new(
            ErrorCode::Usage,
            format!("{} is not a directory", dir.display()),
            Some("give the project's directory: `kovra scaffold PATH`"),
        ));
    }
    // Absolute, so the default group is the directory's own name even for `.`.
    Ok(std::fs::canonicalize(&dir).unwrap_or(dir))
}

/// The records the caller may list and the providers' name claims. A vault that cannot be
/// asked (none yet, locked) leaves the proposal unmapped rather than refused: the scan is
/// still worth having, and the note says so.
fn known(s: &mut Session) -> Known {
    let mut known = Known::default();
    match records(s) {
        Ok(records) => {
            for r in records {
                if let Ok(c) = Coordinate::parse(&r.coordinate) {
                    known.records.push((c, r.vault, r.kind));
                }
            }
        }
        Err(e) => {
            known.unavailable = Some(format!("{}: {}", e.code.as_str(), e.message));
            return known;
        }
    }
    if let Ok(Reply::Providers { providers }) = s.call(Request::ProviderList) {
        for p in &providers {
            let Some(name) = p.get("name").and_then(|n| n.as_str()) else {
                continue;
            };
            let claimed = p.get("secrets").and_then(|v| v.as_array());
            for secret in claimed.into_iter().flatten().filter_map(|v| v.as_str()) {
                known
                    .claims
                    .entry(secret.to_ascii_uppercase())
                    .or_insert_with(|| name.to_string());
            }
        }
    }
    known
}

/// Every record's metadata, asked as `kovra list` asks (a stream: a vault of any size).
fn records(s: &mut Session) -> Result<Vec<RecordView>, CliError> {
    let head = s.call(Request::ListStream {
        env: None,
        offset: 0,
        limit: None,
    })?;
    let Reply::RecordsStream { total, .. } = head else {
        return Err(CliError::new(
            ErrorCode::Internal,
            "unexpected reply to list",
            None,
        ));
    };
    let conn = s.connection()?;
    let mut next = |buf: &mut _| Ok(conn.receive_raw_page(buf)?);
    crate::render::gather(total, &mut next)
}

fn exists(target: &Path) -> CliError {
    CliError::new(
        ErrorCode::OutputExists,
        format!("{} exists; scaffold does not replace it", target.display()),
        Some("compare with `kovra scaffold` (prints the proposal), or pass --force to replace it"),
    )
}

/// Write through a temporary file in the same directory, then rename: a reader never sees
/// half a file. Without `force`, the file must not exist at the moment it is linked.
fn write_refs(target: &Path, text: &str, force: bool) -> Result<(), CliError> {
    let io = |e: std::io::Error| {
        CliError::new(
            ErrorCode::IoError,
            format!("cannot write {}: {e}", target.display()),
            None,
        )
    };
    let dir = target.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".env.refs.kovra-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        if force {
            std::fs::rename(&tmp, target)
        } else {
            // A hard link fails if the target appeared meanwhile; rename would replace it.
            std::fs::hard_link(&tmp, target)
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(exists(target)),
        Err(e) => Err(io(e)),
    }
}
