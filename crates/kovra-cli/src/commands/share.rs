//! `kovra identity`, `share`, `receive` and `kit` (`docs/sharing.md`). The daemon seals and
//! opens packages; this side moves files, asks the human, and shows the one-time token on the
//! controlling terminal only.

use kovra_proto::ErrorCode;
use std::fs::OpenOptions;
use std::io::{BufRead, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use kovra_proto::{Reply, Request, Secret};

use crate::cli::KitCommand;
use crate::error::CliError;
use crate::render::{self, Renderer, View};
use crate::session::Session;

const MAX_PACKAGE: u64 = 512 * 1024;
const MAX_TTL_SECS: u64 = 30 * 24 * 3600;

fn fail(code: ErrorCode, message: String, hint: Option<&str>) -> CliError {
    CliError::new(code, message, hint)
}

fn ttl(text: &str) -> Result<u64, CliError> {
    let secs = humantime::parse_duration(text)
        .map_err(|e| {
            fail(
                ErrorCode::TtlInvalid,
                format!("--ttl `{text}`: {e}"),
                Some("for example 1h, 7d, 30d"),
            )
        })?
        .as_secs();
    if !(1..=MAX_TTL_SECS).contains(&secs) {
        return Err(fail(
            ErrorCode::TtlInvalid,
            format!("--ttl must be between 1s and 30d, not {text}"),
            None,
        ));
    }
    Ok(secs)
}

/// The controlling terminal, for what must never reach a pipe or a file (the token).
fn terminal() -> Result<std::fs::File, CliError> {
    crate::input::terminal(
        "show the one-time token (it is shown only there, never on stdout)",
        "run it yourself in a terminal",
    )
}

/// Ask a yes/no question on the terminal; anything but `y`/`yes` is no.
fn confirm(question: &str) -> Result<bool, CliError> {
    let tty = terminal()?;
    let mut out = &tty;
    let _ = out.write_all(question.as_bytes());
    let _ = out.flush();
    let mut line = String::new();
    std::io::BufReader::new(&tty)
        .take(256)
        .read_line(&mut line)
        .map_err(|e| {
            fail(
                ErrorCode::NoTerminal,
                format!("cannot read the answer: {e}"),
                None,
            )
        })?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

fn show_token(token: &Secret, package: &Path) -> Result<(), CliError> {
    let mut tty = terminal()?;
    let text = format!(
        "\none-time token for {} (give it through another channel than the file; it is shown only now):\n\n    {}\n\n",
        package.display(),
        String::from_utf8_lossy(token.expose())
    );
    tty.write_all(text.as_bytes())
        .and_then(|()| tty.flush())
        .map_err(|e| {
            fail(
                ErrorCode::NoTerminal,
                format!("cannot show the token: {e}"),
                None,
            )
        })
}

/// Write a new file with mode 0600, never replacing one.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                fail(
                    ErrorCode::OutputExists,
                    format!("{} exists; kovra does not overwrite it", path.display()),
                    Some("pass another --out, or move the file away"),
                )
            } else {
                fail(
                    ErrorCode::OutputFailed,
                    format!("cannot write {}: {e}", path.display()),
                    None,
                )
            }
        })?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| {
        fail(
            ErrorCode::OutputFailed,
            format!("cannot write {}: {e}", path.display()),
            None,
        )
    })
}

pub fn identity(s: &mut Session, out: &Renderer) -> Result<(), CliError> {
    let Reply::Identity {
        recipient,
        signing_key,
        fingerprint,
        created,
    } = s.call(Request::Identity { create: true })?
    else {
        return Err(fail(ErrorCode::Internal, "unexpected reply".into(), None));
    };
    out.show(View::Identity {
        recipient: &recipient,
        signing_key: &signing_key,
        fingerprint: &fingerprint,
        created,
    })
}

/// `--to` is a recipient, or a file holding one (its first non-empty line).
fn recipient_arg(to: &str) -> String {
    let path = Path::new(to);
    if !to.starts_with("age1")
        && !to.starts_with("ssh-")
        && path.is_file()
        && let Ok(text) = std::fs::read_to_string(path)
        && let Some(line) = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
    {
        return line.to_string();
    }
    to.to_string()
}

struct Sealed {
    path: PathBuf,
    package_id: String,
    coordinates: Vec<String>,
    expires: u64,
    recipient: String,
}

/// Ask the daemon to seal, write the package, show the token. `out` of `None` picks
/// `./kovra-share-ENV-ID8.age`; `replace` lets the kit overwrite its own package file.
fn seal_to(
    s: &mut Session,
    env: String,
    groups: Vec<String>,
    to: String,
    ttl_secs: u64,
    out: Option<PathBuf>,
    replace: bool,
) -> Result<Sealed, CliError> {
    // Bad input first, then the terminal the token needs, before anything is sealed.
    kovra_share::Recipient::parse(&to).map_err(|e| {
        fail(
            ErrorCode::RecipientInvalid,
            e.to_string(),
            Some("give an age1… recipient (`kovra identity` on the other side) or an ssh-ed25519 public key"),
        )
    })?;
    drop(terminal()?);
    // What is about to leave, before it does (names only; the daemon decides which records
    // qualify, and the report below lists them).
    eprintln!(
        "kovra: sealing {}{} for {to}, receivable for {}",
        env,
        if groups.is_empty() {
            String::new()
        } else {
            format!(" (groups {})", groups.join(", "))
        },
        humantime::format_duration(std::time::Duration::from_secs(ttl_secs))
    );
    if let Some(p) = &out
        && p.exists()
        && !replace
    {
        return Err(fail(
            ErrorCode::OutputExists,
            format!("{} exists; kovra does not overwrite it", p.display()),
            Some("pass another --out, or move the file away"),
        ));
    }
    let Reply::Shared {
        package,
        token,
        package_id,
        environment,
        coordinates,
        expires,
        recipient,
    } = s.call(Request::Share {
        env,
        groups,
        to,
        ttl_secs,
        proof: None,
    })?
    else {
        return Err(fail(ErrorCode::Internal, "unexpected reply".into(), None));
    };
    let path = out.unwrap_or_else(|| {
        PathBuf::from(format!(
            "kovra-share-{environment}-{}.age",
            &package_id[..8.min(package_id.len())]
        ))
    });
    if replace && path.exists() {
        let tmp = path.with_extension("age.tmp");
        let _ = std::fs::remove_file(&tmp);
        write_new(&tmp, package.as_bytes())?;
        std::fs::rename(&tmp, &path).map_err(|e| {
            fail(
                ErrorCode::OutputFailed,
                format!("cannot write {}: {e}", path.display()),
                None,
            )
        })?;
    } else {
        write_new(&path, package.as_bytes())?;
    }
    show_token(&token, &path)?;
    Ok(Sealed {
        path,
        package_id,
        coordinates,
        expires,
        recipient,
    })
}

fn report_sealed(sealed: &Sealed, environment: &str, out: &Renderer) -> Result<(), CliError> {
    out.show(View::Sealed {
        file: &sealed.path,
        package_id: &sealed.package_id,
        environment,
        records: &sealed.coordinates,
        expires: sealed.expires,
        recipient: &sealed.recipient,
    })
}

pub fn share(s: &mut Session, args: crate::cli::ShareArgs, out: &Renderer) -> Result<(), CliError> {
    let ttl_secs = ttl(&args.ttl)?;
    let env = args.env_name.clone();
    let sealed = seal_to(
        s,
        args.env_name,
        args.groups,
        recipient_arg(&args.to),
        ttl_secs,
        args.out,
        false,
    )?;
    report_sealed(&sealed, &env, out)
}

fn read_package(path: &Path) -> Result<String, CliError> {
    let f = std::fs::File::open(path).map_err(|e| {
        fail(
            ErrorCode::PackageInvalid,
            format!("cannot read {}: {e}", path.display()),
            None,
        )
    })?;
    let mut bytes = Vec::new();
    f.take(MAX_PACKAGE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            fail(
                ErrorCode::PackageInvalid,
                format!("cannot read {}: {e}", path.display()),
                None,
            )
        })?;
    if bytes.len() as u64 > MAX_PACKAGE {
        return Err(fail(
            ErrorCode::PackageInvalid,
            format!("{} is larger than {MAX_PACKAGE} bytes", path.display()),
            None,
        ));
    }
    String::from_utf8(bytes).map_err(|_| {
        fail(
            ErrorCode::PackageInvalid,
            format!("{} is not an armored kovra package", path.display()),
            None,
        )
    })
}

/// The token from a file (read like a passphrase file: first line, a warning when others can
/// read it) or a hidden prompt.
fn read_token(file: Option<&Path>) -> Result<Secret, CliError> {
    let Some(path) = file else {
        drop(crate::input::terminal(
            "ask for the package's one-time token",
            "pass --token-file FILE (first line: the token), or run it at a terminal",
        )?);
        return crate::input::tty_prompt("token: ");
    };
    let src = crate::cli::PassphraseSource {
        passphrase_file: Some(path.to_path_buf()),
        passphrase_fd: None,
    };
    crate::input::passphrase(&src, "token: ", false).map_err(|e| {
        fail(
            ErrorCode::TokenInvalid,
            e.message.replace("passphrase", "token"),
            None,
        )
    })
}

pub fn receive(
    s: &mut Session,
    file: &Path,
    token_file: Option<&Path>,
    force: bool,
    accept_sender: Option<String>,
    out: &Renderer,
) -> Result<(), CliError> {
    let package = read_package(file)?;
    let token = read_token(token_file)?;
    let request = |accept: Option<String>| Request::Receive {
        package: package.clone(),
        token: token.clone(),
        force,
        accept_sender: accept,
        proof: None,
    };
    let mut reply = s.call(request(accept_sender.clone()))?;
    if let Reply::SenderUnknown {
        fingerprint,
        recipient,
        package_id,
        environment,
        records,
    } = &reply
    {
        let asked = accept_sender.is_none() && crate::input::has_tty();
        let trusted = asked
            && {
                let tty = terminal()?;
                let mut shown = &tty;
                let _ = write!(
                    shown,
                    "package {package_id}: {records} record(s) of {environment}\nfrom a sender this vault does not know yet:\n  fingerprint: {fingerprint}\n  recipient:   {recipient}\nCompare the fingerprint with what the sender's `kovra identity` shows (by voice, not by the same channel as the file).\n"
                );
                confirm(&format!("accept sender {fingerprint}? [y/N] "))?
            };
        if !trusted {
            return Err(fail(
                ErrorCode::SenderUnknown,
                format!(
                    "package {package_id} is from sender {fingerprint}, whom this vault has not accepted"
                ),
                Some(
                    "compare the fingerprint with the sender, then receive again at a terminal or with --accept-sender FINGERPRINT",
                ),
            ));
        }
        reply = s.call(request(Some(fingerprint.clone())))?;
    }
    let Reply::Received {
        package_id,
        sender_fingerprint,
        environment,
        imported,
        vault,
    } = reply
    else {
        if let Reply::SenderUnknown { fingerprint, .. } = reply {
            return Err(fail(
                ErrorCode::SenderUnknown,
                format!(
                    "sender {fingerprint} is not accepted (the fingerprint given does not match)"
                ),
                Some("pass the exact fingerprint the package's sender shows"),
            ));
        }
        return Err(fail(ErrorCode::Internal, "unexpected reply".into(), None));
    };
    out.show(View::Received {
        package_id: &package_id,
        sender: &sender_fingerprint,
        environment: &environment,
        imported: &imported,
        vault: &vault,
    })
}

const INSTALL_SH: &str = r#"#!/bin/sh
# kovra kit installer. Installs the kovra programs next to this script (kovra and kovra-full),
# creates a vault (asks for a passphrase) and its sharing identity, and writes this machine's
# recipient and fingerprint into the kit. It never reads or writes a secret value.
#   KOVRA_KIT_PREFIX  where to install (default ~/.local): the programs go to PREFIX/bin
set -eu
KIT=$(cd "$(dirname "$0")" && pwd)
PREFIX=${KOVRA_KIT_PREFIX:-$HOME/.local}
mkdir -p "$PREFIX/bin"
for p in kovra-full kovra; do
  cp "$KIT/$p" "$PREFIX/bin/$p.new"
  chmod 0755 "$PREFIX/bin/$p.new"
  mv "$PREFIX/bin/$p.new" "$PREFIX/bin/$p"
done
echo "kovra installed: $PREFIX/bin/kovra"
exec "$PREFIX/bin/kovra" kit enroll "$KIT"
"#;

const README: &str = "kovra kit\n\n\
On the new machine:   sh install.sh\n\
  installs kovra, creates a vault and its identity, writes recipient.txt here and shows a\n\
  fingerprint. Tell it (by voice) to the person at the origin machine.\n\
On the origin:        kovra kit seal DIR --env ENV\n\
  shows the fingerprint from recipient.txt: compare, then it seals package.age here and shows\n\
  a one-time token on the origin's terminal. The token never goes onto this stick.\n\
On the new machine:   kovra kit open DIR\n\
  asks for the token and imports the records.\n";

fn kit_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// The new machine's recipient, signing key and fingerprint, as `kit enroll` wrote them.
fn read_recipient(dir: &Path) -> Result<(String, String, String), CliError> {
    let path = kit_file(dir, "recipient.txt");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        fail(
            ErrorCode::KitInvalid,
            format!("cannot read {}: {e}", path.display()),
            Some("run install.sh from the kit on the new machine first"),
        )
    })?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            .filter(|v| !v.is_empty())
    };
    let (Some(recipient), Some(signing), Some(claimed)) = (
        field("recipient:"),
        field("signing_key:"),
        field("fingerprint:"),
    ) else {
        return Err(fail(
            ErrorCode::KitInvalid,
            format!(
                "{} lacks recipient, signing_key or fingerprint",
                path.display()
            ),
            None,
        ));
    };
    let key = kovra_share::identity::verifying_key(&signing).ok_or_else(|| {
        fail(
            ErrorCode::KitInvalid,
            format!("{} holds an invalid signing key", path.display()),
            None,
        )
    })?;
    let computed = kovra_share::identity::fingerprint(&recipient, key.as_bytes());
    if computed != claimed {
        return Err(fail(
            ErrorCode::KitInvalid,
            format!(
                "{} does not match its own fingerprint: it was edited",
                path.display()
            ),
            Some("run install.sh on the new machine again"),
        ));
    }
    Ok((recipient, signing, computed))
}

pub fn kit(s: &mut Session, cmd: KitCommand, out: &Renderer) -> Result<(), CliError> {
    match cmd {
        KitCommand::Init { dir } => {
            std::fs::create_dir_all(&dir).map_err(|e| {
                fail(
                    ErrorCode::OutputFailed,
                    format!("cannot create {}: {e}", dir.display()),
                    None,
                )
            })?;
            let exe = std::env::current_exe().map_err(|e| {
                fail(
                    ErrorCode::OutputFailed,
                    format!("cannot find this binary: {e}"),
                    None,
                )
            })?;
            // Both programs kovra is installed as (`crate::front`), from beside this one.
            for name in ["kovra", crate::front::FULL_NAME] {
                let bin = kit_file(&dir, name);
                std::fs::copy(exe.with_file_name(name), &bin)
                    .and_then(|_| {
                        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755))
                    })
                    .map_err(|e| {
                        fail(
                            ErrorCode::OutputFailed,
                            format!("cannot write {}: {e}", bin.display()),
                            None,
                        )
                    })?;
            }
            for (name, text, mode) in [
                ("install.sh", INSTALL_SH, 0o755),
                ("README.txt", README, 0o644),
            ] {
                let path = kit_file(&dir, name);
                std::fs::write(&path, text)
                    .and_then(|()| {
                        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                    })
                    .map_err(|e| {
                        fail(
                            ErrorCode::OutputFailed,
                            format!("cannot write {}: {e}", path.display()),
                            None,
                        )
                    })?;
            }
            eprintln!(
                "kovra: kit written to {}: on the new machine run `sh {}/install.sh`",
                dir.display(),
                dir.display()
            );
            Ok(())
        }
        KitCommand::Enroll { dir, passphrase } => {
            if !s.paths().has_vault() {
                let unattended = passphrase.unattended();
                let passphrase = crate::input::passphrase(&passphrase, "new passphrase: ", true)?;
                s.hand_over(
                    Request::Init {
                        passphrase: passphrase.clone(),
                        unattended,
                    },
                    &passphrase,
                )?;
            }
            let Reply::Identity {
                recipient,
                signing_key,
                fingerprint,
                ..
            } = s.call(Request::Identity { create: true })?
            else {
                return Err(fail(ErrorCode::Internal, "unexpected reply".into(), None));
            };
            let path = kit_file(&dir, "recipient.txt");
            std::fs::write(
                &path,
                format!("recipient: {recipient}\nsigning_key: {signing_key}\nfingerprint: {fingerprint}\n"),
            )
            .map_err(|e| fail(ErrorCode::OutputFailed, format!("cannot write {}: {e}", path.display()), None))?;
            // The enrolment's own instructions, in both modes.
            render::line(&format!(
                "this machine's fingerprint: {fingerprint}\ntell it to the person sealing the kit; then run `kovra kit open {}`",
                dir.display()
            ))
        }
        KitCommand::Seal {
            dir,
            env_name,
            groups,
            ttl: ttl_text,
        } => {
            let ttl_secs = ttl(&ttl_text)?;
            let (recipient, _, fingerprint) = read_recipient(&dir)?;
            let tty = terminal()?;
            let mut shown = &tty;
            let _ = write!(
                shown,
                "the kit's new machine has the fingerprint:\n\n    {fingerprint}\n\n"
            );
            if !confirm(&format!("does the new machine show {fingerprint}? [y/N] "))? {
                return Err(fail(
                    ErrorCode::FingerprintMismatch,
                    "the fingerprint was not confirmed; nothing was sealed".into(),
                    Some("compare with what install.sh printed on the new machine"),
                ));
            }
            let sealed = seal_to(
                s,
                env_name.clone(),
                groups,
                recipient,
                ttl_secs,
                Some(kit_file(&dir, "package.age")),
                true,
            )?;
            report_sealed(&sealed, &env_name, out)
        }
        KitCommand::Open {
            dir,
            token_file,
            accept_sender,
        } => receive(
            s,
            &kit_file(&dir, "package.age"),
            token_file.as_deref(),
            false,
            accept_sender,
            out,
        ),
    }
}
