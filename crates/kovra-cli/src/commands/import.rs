//! `kovra import` and `kovra export --format dotenv`. The file is read here (the dotenv
//! grammar is `kovra_core::dotenv`); the daemon decides and writes every record in one
//! transaction. Only after it acknowledged are `.env.refs` written and the file shredded.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use kovra_core::coord::Coordinate;
use kovra_core::dotenv;
use kovra_proto::import::{ExportRequest, ImportItem, ImportReply, ImportRequest, PinSource};
use kovra_proto::{ErrorCode, Reply, Request, Secret};
use zeroize::Zeroizing;

use crate::cli_import::{ExportArgs, ImportArgs};
use crate::error::CliError;
use crate::render::Renderer;
use crate::session::Session;

/// Larger than any real `.env`; a bound on what is read into memory.
const MAX_FILE: u64 = 8 * 1024 * 1024;

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> CliError {
    CliError::new(
        ErrorCode::IoError,
        format!("{what} {}: {e}", path.display()),
        None,
    )
}

fn invalid(path: &Path, line: usize, column: usize, why: &str) -> CliError {
    CliError::new(
        ErrorCode::DotenvInvalid,
        format!(
            "{}:{line}:{column}: {why}; nothing was imported",
            path.display()
        ),
        ErrorCode::DotenvInvalid.hint(),
    )
}

/// The file's entries as coordinates and values; any refusal names FILE:LINE:COLUMN.
fn read_entries(args: &ImportArgs) -> Result<Vec<(String, String, Secret)>, CliError> {
    let path = &args.file;
    let meta = fs::symlink_metadata(path).map_err(|e| io_error("cannot read", path, &e))?;
    if !meta.is_file() {
        return Err(CliError::new(
            ErrorCode::InvalidArgument,
            format!("{} is not a regular file", path.display()),
            Some("give the .env file itself, not a link or a directory"),
        ));
    }
    if meta.len() > MAX_FILE {
        return Err(CliError::new(
            ErrorCode::InvalidArgument,
            format!("{} is larger than {MAX_FILE} bytes", path.display()),
            None,
        ));
    }
    let bytes = Zeroizing::new(fs::read(path).map_err(|e| io_error("cannot read", path, &e))?);
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let before = &bytes[..e.valid_up_to()];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
        invalid(path, line, column, "the file is not UTF-8 text")
    })?;
    let entries =
        dotenv::parse(text).map_err(|e| invalid(path, e.line, e.column, &e.kind.to_string()))?;
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        if e.name.to_ascii_uppercase().starts_with("KOVRA_") {
            return Err(invalid(
                path,
                e.line,
                1,
                "KOVRA_* variables are kovra's own and never reach a child: rename it",
            ));
        }
        let coordinate = format!("secret:{}/{}/{}", args.env, args.group, e.name);
        Coordinate::parse(&coordinate)?;
        let value = Secret::new(e.value.as_bytes().to_vec());
        out.push((e.name, coordinate, value));
    }
    Ok(out)
}

fn refs_path(file: &Path) -> PathBuf {
    file.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(".env.refs")
}

/// `.env.refs` wiring every name to its record through `${ENV}`, checked by the refs parser.
fn refs_text(
    args: &ImportArgs,
    names: &[String],
    project: Option<&str>,
) -> Result<String, CliError> {
    let mut text = format!(
        "# Written by `kovra import {}`: names wired to records, never values.\n",
        args.file.display()
    );
    if let Some(p) = project {
        text.push_str(&format!("project = {p}\n"));
    }
    text.push_str(&format!("env = {}\n", args.env));
    for n in names {
        text.push_str(&format!("{n}=secret:${{ENV}}/{}/{n}\n", args.group));
    }
    kovra_core::envrefs::parse(".env.refs", &text).map_err(|e| {
        CliError::new(
            ErrorCode::RefsInvalid,
            format!("the .env.refs to write would not parse: {e}"),
            Some("import without --write-refs and write it by hand"),
        )
    })?;
    Ok(text)
}

/// Overwrite the file's bytes with zeros, flush them to the disk, then remove it. Blocks a
/// copy-on-write or journaling file system keeps elsewhere are beyond a program's reach.
fn shred(path: &Path) -> std::io::Result<()> {
    let mut f = fs::OpenOptions::new().write(true).open(path)?;
    let len = f.metadata()?.len();
    let zeros = [0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        f.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    f.sync_all()?;
    drop(f);
    fs::remove_file(path)?;
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

pub fn import(
    s: &mut Session,
    args: ImportArgs,
    project: Option<&str>,
    out: &Renderer,
) -> Result<(), CliError> {
    let mut entries = read_entries(&args)?;
    let dotenvx_key = if args.from_dotenvx {
        // The file's public key is dotenvx's own line, not a record.
        let public: Vec<String> = entries
            .iter()
            .filter(|(n, _, _)| n.starts_with("DOTENV_PUBLIC_KEY"))
            .filter_map(|(_, _, v)| std::str::from_utf8(v.expose()).ok().map(str::to_string))
            .collect();
        entries.retain(|(n, _, _)| !n.starts_with("DOTENV_PUBLIC_KEY"));
        Some(dotenvx_key(&args.file, &public)?)
    } else {
        None
    };
    if args.shred {
        use std::os::unix::fs::MetadataExt;
        let meta = fs::metadata(&args.file).map_err(|e| io_error("cannot read", &args.file, &e))?;
        if meta.nlink() > 1 {
            return Err(CliError::new(
                ErrorCode::InvalidArgument,
                format!(
                    "{} has other hard links: shredding one name leaves the others",
                    args.file.display()
                ),
                Some("remove the other links first, or import without --shred"),
            ));
        }
    }
    let names: Vec<String> = entries.iter().map(|(n, _, _)| n.clone()).collect();
    let refs = if args.write_refs {
        let path = refs_path(&args.file);
        if path.exists() && !args.force {
            return Err(CliError::new(
                ErrorCode::OutputExists,
                format!("{} exists; nothing was imported", path.display()),
                Some("pass --force to replace it, or import without --write-refs"),
            ));
        }
        Some((path, refs_text(&args, &names, project)?))
    } else {
        None
    };
    let reply = s.call(Request::Import(Box::new(ImportRequest {
        records: entries
            .into_iter()
            .map(|(_, coordinate, value)| ImportItem { coordinate, value })
            .collect(),
        sensitivity: args.sensitivity,
        force: args.force,
        dry_run: args.dry_run,
        dotenvx_key,
        source: args.file.display().to_string(),
        proof: None,
    })))?;
    let Reply::Imported(r) = &reply else {
        return Err(CliError::new(ErrorCode::Internal, "unexpected reply", None));
    };
    if out.is_json() {
        out.reply(&reply)?;
    } else {
        print_table(r, &names);
    }
    if !r.written {
        eprintln!("kovra: dry run: nothing was written");
        return Ok(());
    }
    eprintln!(
        "kovra: imported {} records into the {} vault (one transaction)",
        r.rows.len(),
        r.vault
    );
    if let Some((path, text)) = refs {
        fs::write(&path, text).map_err(|e| io_error("cannot write", &path, &e))?;
        eprintln!("kovra: wrote {}", path.display());
    }
    if args.shred {
        shred(&args.file).map_err(|e| io_error("cannot shred", &args.file, &e))?;
        eprintln!("kovra: overwrote and removed {}", args.file.display());
    }
    Ok(())
}

/// The dotenvx private key for `file`: from DOTENV_PRIVATE_KEY_<ENV> (`.env.<env>`) or
/// DOTENV_PRIVATE_KEY (each may list several, comma-separated), the one matching the file's
/// public key when it names one; else typed at a hidden prompt.
fn dotenvx_key(file: &Path, public: &[String]) -> Result<Secret, CliError> {
    use kovra_core::dotenvx::PrivateKey;
    let suffix = file
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix(".env."))
        .map(|s| format!("_{}", s.to_ascii_uppercase().replace(['.', '-'], "_")))
        .unwrap_or_default();
    let mut candidates: Vec<Zeroizing<String>> = Vec::new();
    for var in [
        format!("DOTENV_PRIVATE_KEY{suffix}"),
        "DOTENV_PRIVATE_KEY".to_string(),
    ] {
        if let Ok(v) = std::env::var(&var) {
            let v = Zeroizing::new(v);
            candidates.extend(v.split(',').map(|k| Zeroizing::new(k.trim().to_string())));
        }
    }
    let fits = |k: &str| {
        PrivateKey::from_hex(k)
            .ok()
            .is_some_and(|p| public.is_empty() || public.iter().any(|q| q.trim() == p.public_hex()))
    };
    if let Some(k) = candidates.iter().find(|k| fits(k)) {
        return Ok(Secret::new(k.as_bytes().to_vec()));
    }
    if !crate::input::has_tty() {
        return Err(CliError::new(
            ErrorCode::NoValueSource,
            format!(
                "no dotenvx private key for {} fits its public key",
                file.display()
            ),
            Some("set DOTENV_PRIVATE_KEY (from .env.keys), or run the import at a terminal"),
        ));
    }
    let typed = crate::input::tty_prompt(&format!(
        "dotenvx private key for {} (hidden): ",
        file.display()
    ))?;
    let text = std::str::from_utf8(typed.expose()).unwrap_or_default();
    if !fits(text) {
        return Err(CliError::new(
            ErrorCode::DotenvInvalid,
            format!(
                "that private key does not open {} (it is not the key of its DOTENV_PUBLIC_KEY); nothing was imported",
                file.display()
            ),
            Some("copy the DOTENV_PRIVATE_KEY line for this file from .env.keys"),
        ));
    }
    Ok(typed)
}

fn print_table(r: &ImportReply, names: &[String]) {
    let head = ["NAME", "COORDINATE", "SENSITIVITY", "PROVIDER", "ACTION"];
    let rows: Vec<[String; 5]> = r
        .rows
        .iter()
        .zip(names)
        .map(|(row, name)| {
            let provider = match (&row.provider, row.pin) {
                (Some(p), Some(PinSource::Name)) => format!("{p} (name)"),
                (Some(p), Some(PinSource::Format)) => format!("{p} (key format)"),
                (Some(p), None) => p.clone(),
                (None, _) => "-".into(),
            };
            let action = if row.replaces { "replace" } else { "create" };
            [
                name.clone(),
                row.coordinate.clone(),
                row.sensitivity.to_string(),
                provider,
                action.into(),
            ]
        })
        .collect();
    let mut widths = head.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}  "));
            }
        }
        l.push('\n');
        l
    };
    let mut text = line(&head);
    for row in &rows {
        text.push_str(&line(&row.each_ref().map(String::as_str)));
    }
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// A value as a dotenv line's right side that python-dotenv, Node's dotenv and `kovra
/// import` all read back as exactly the value; `None` when no such spelling exists.
pub(crate) fn dotenv_value(v: &str) -> Option<String> {
    let bad_in_single =
        v.contains('\'') || v.contains("\\\\") || v.contains('\r') || v.contains("${");
    if !bad_in_single && !v.contains('\0') {
        return Some(format!("'{v}'"));
    }
    if !v.contains('"') && !v.contains('\\') && !v.contains("${") && !v.contains('\0') {
        return Some(format!("\"{}\"", v.replace('\r', "\\r")));
    }
    None
}

pub fn export(s: &mut Session, args: ExportArgs, out: &Renderer) -> Result<(), CliError> {
    let _ = (args.format, out);
    let reply = s.call(Request::Export(Box::new(ExportRequest {
        env: args.env,
        group: args.group,
        proof: None,
    })))?;
    let Reply::Exported(r) = reply else {
        return Err(CliError::new(ErrorCode::Internal, "unexpected reply", None));
    };
    let mut text = Zeroizing::new(String::new());
    for e in &r.entries {
        let spelled = std::str::from_utf8(e.value.expose())
            .ok()
            .and_then(dotenv_value)
            .ok_or_else(|| {
                CliError::new(
                    ErrorCode::InvalidArgument,
                    format!(
                        "the value of {} cannot be written as a dotenv line both python-dotenv and Node dotenv read back; nothing was exported",
                        e.coordinate
                    ),
                    Some("export the other groups with --group, and reveal this one with `kovra reveal`"),
                )
            })?;
        text.push_str(&format!("{}={}\n", e.name, spelled.as_str()));
        drop(Zeroizing::new(spelled));
    }
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
    eprintln!(
        "kovra: exported {} records of {} (values on standard output)",
        r.entries.len(),
        r.env
    );
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::dotenv_value;

    #[test]
    fn exported_values_read_back_through_the_import_grammar() {
        for v in [
            "plain",
            "it's \"quoted\"",
            "a\\\\b and 'x'",
            "line1\nline2",
            "cr\r\nlf",
            "",
            "  padded ",
            "${NOT}",
            "#hash",
        ] {
            let Some(spelled) = dotenv_value(v) else {
                continue;
            };
            let parsed = kovra_core::dotenv::parse(&format!("A={spelled}\n")).unwrap();
            assert_eq!(parsed[0].value.as_str(), v, "{spelled:?}");
        }
        assert!(dotenv_value("both ' and \" and \\\\").is_none());
    }
}
