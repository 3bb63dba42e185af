//! `kovra`: a thin client of the daemon. It gathers input (never a value from argv),
//! sends one request, renders the reply, and maps errors to documented exit codes.
#![forbid(unsafe_code)]

mod api;
mod cli;
mod demo;
mod error;
mod file_guard;
mod input;
mod output;
mod run;
mod session;
mod setup;
mod share;
mod system_check;

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use kovra_core::coord::Coordinate;
use kovra_proto::{Reply, Request};

use crate::cli::{
    AllowCommand, AuditCommand, Cli, Command, DaemonCommand, ProjectCommand, TwoFaCommand,
};
use crate::error::CliError;
use crate::session::Session;

fn main() -> ExitCode {
    // First, before any prompt, read or reply: nothing of ours may be traced or dumped. A
    // tracer attached before this (one that raced the exec) stays attached: refuse then.
    kovra_client::harden_process();
    if let Some(tracer) = kovra_client::own_tracer().filter(|t| *t != 0) {
        let e = CliError::new(
            "traced",
            format!(
                "this kovra process is being traced by pid {tracer}; it will not read or print anything secret"
            ),
            Some("stop the tracing process and run the command again"),
        );
        output::error(&e, std::env::args().any(|a| a == "--json"));
        return ExitCode::from(e.exit_code());
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let as_json = cli.json;
    if let Command::Run(args) = cli.command {
        // `run` mirrors its child's exit code.
        let result = Session::new(cli.project).and_then(|mut s| run::run(&mut s, args));
        return match result {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                output::error(&e, as_json);
                ExitCode::from(e.exit_code())
            }
        };
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            output::error(&e, as_json);
            ExitCode::from(e.exit_code())
        }
    }
}

/// clap prints help and usage errors itself; with `--json`, a usage error is still one
/// JSON document on stdout.
fn usage_error(e: clap::Error) -> ExitCode {
    let wants_json = std::env::args().any(|a| a == "--json");
    if wants_json && e.use_stderr() {
        let err = CliError::new("usage", e.kind().to_string(), Some("see `kovra --help`"));
        output::error(&err, true);
        return ExitCode::from(2);
    }
    let _ = e.print();
    ExitCode::from(if e.use_stderr() { 2 } else { 0 })
}

/// Parse locally first, so a typo is reported before any connection is made.
fn coord(text: &str) -> Result<String, CliError> {
    Coordinate::parse(text)?;
    Ok(text.to_string())
}

fn run(cli: Cli) -> Result<(), CliError> {
    let json = cli.json;
    let show = |reply: Reply| output::reply(&reply, json);
    match cli.command {
        Command::Daemon(args) => return daemon(args),
        Command::Hook(cli::HookCommand::FileGuard) => {
            std::process::exit(i32::from(file_guard::run()))
        }
        Command::Demo => return demo::run(),
        Command::Doctor { system: true, .. } => return system_check::run(json),
        Command::Mcp => {
            return kovra_mcp::serve().map_err(|e| {
                CliError::new("mcp-failed", format!("the MCP server stopped: {e:#}"), None)
            });
        }
        _ => {}
    }
    let project_flag = cli.project.clone();
    let mut s = Session::new(cli.project)?;
    match cli.command {
        Command::Daemon(_) | Command::Demo | Command::Run(_) | Command::Hook(_) | Command::Mcp => {
            Ok(())
        }
        Command::Doctor { env_name, refs, .. } => {
            let (text, path) = run::read_refs(refs)?;
            let caller_vars = std::env::vars_os()
                .filter_map(|(k, _)| k.into_string().ok())
                .collect();
            show(s.call(Request::Doctor {
                refs: text,
                refs_path: path,
                env_name,
                caller_vars,
            })?)
        }
        Command::Approve { id: None } => show(s.call(Request::ApprovalList)?),
        Command::Approve { id: Some(id) } => {
            // Show what is being approved before asking for the passphrase.
            let Reply::Approvals { pending } = s.call(Request::ApprovalList)? else {
                return Err(CliError::new("internal", "unexpected reply", None));
            };
            match pending.iter().find(|p| p.id == id) {
                Some(view) => eprint!("{}", output::approval(view)),
                None => {
                    return Err(CliError::new(
                        "approval-unknown",
                        format!("no pending request {id} (unknown, expired or already decided)"),
                        Some("`kovra approve` lists what is pending"),
                    ));
                }
            }
            show(s.call(Request::Approve { id, proof: None })?)
        }
        Command::Deny { id } => show(s.call(Request::Deny { id })?),
        Command::Requests => show(s.call(Request::SecretRequests)?),
        Command::Setup {
            environments,
            operations,
            no_hooks,
            dry_run,
            passphrase,
        } => {
            let dir = std::env::current_dir().map_err(|e| {
                CliError::new(
                    "cwd-invalid",
                    format!("cannot read the working directory: {e}"),
                    None,
                )
            })?;
            let project = match project_flag {
                Some(p) => p,
                None => dir
                    .file_name()
                    .and_then(|n| n.to_str())
                    .map(|n| {
                        n.chars()
                            .map(|c| {
                                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                                    c
                                } else {
                                    '-'
                                }
                            })
                            .collect()
                    })
                    .unwrap_or_else(|| "project".into()),
            };
            kovra_core::coord::validate_name(&project).map_err(|e| {
                CliError::new(
                    "project-invalid",
                    format!("invalid project name `{project}`: {e}"),
                    Some("pass --project NAME"),
                )
            })?;
            if !dry_run {
                if !kovra_core::store::LockedStore::exists(&s.paths.home) {
                    let unattended = passphrase.unattended();
                    let passphrase = input::passphrase(&passphrase, "new passphrase: ", true)?;
                    show(s.hand_over(
                        Request::Init {
                            passphrase: passphrase.clone(),
                            unattended,
                        },
                        &passphrase,
                    )?)?;
                }
                match s.call(Request::ProjectCreate {
                    name: project.clone(),
                }) {
                    Ok(reply) => show(reply)?,
                    Err(e) if e.code == "project-exists" => {}
                    Err(e) => return Err(e),
                }
            }
            let plan = setup::SetupPlan {
                project: project.clone(),
                environments,
                operations,
                hooks: !no_hooks,
                dry_run,
            };
            let changed = setup::apply(&dir, &plan)?;
            match (changed.is_empty(), dry_run) {
                (true, _) => eprintln!("kovra: project {project} is set up; nothing to change"),
                (false, true) => {
                    eprintln!("kovra: dry run: {} file(s) would change", changed.len())
                }
                (false, false) => eprintln!(
                    "kovra: project {project} set up; wrote {}",
                    changed
                        .iter()
                        .map(|p| p.strip_prefix(&dir).unwrap_or(p).display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
            Ok(())
        }
        Command::Allow(cmd) => {
            let absolute =
                |p: std::path::PathBuf| std::path::absolute(&p).unwrap_or(p).display().to_string();
            show(s.call(match cmd {
                AllowCommand::Add { path } => Request::AllowAdd {
                    path: absolute(path),
                    proof: None,
                },
                AllowCommand::List => Request::AllowList,
                AllowCommand::Rm { path } => Request::AllowRm {
                    path: absolute(path),
                },
            })?)
        }
        Command::Init(src) => {
            if kovra_core::store::LockedStore::exists(&s.paths.home) {
                return Err(CliError::new(
                    "already-initialized",
                    format!("a vault already exists at {}", s.paths.home.display()),
                    Some("use `kovra unlock`; to start over, move the home away first"),
                ));
            }
            let passphrase = input::passphrase(&src, "new passphrase: ", true)?;
            show(s.hand_over(
                Request::Init {
                    passphrase: passphrase.clone(),
                    unattended: src.unattended(),
                },
                &passphrase,
            )?)
        }
        Command::Unlock {
            passphrase: src,
            code: code_src,
        } => {
            if !kovra_core::store::LockedStore::exists(&s.paths.home) {
                return Err(CliError::new(
                    "not-initialized",
                    format!("no vault at {}", s.paths.home.display()),
                    Some("run `kovra init` to create one"),
                ));
            }
            let passphrase = input::passphrase(&src, "passphrase: ", false)?;
            let given = code_src.code_file.is_some() || code_src.code_fd.is_some();
            let code = given.then(|| input::code(&code_src)).transpose()?;
            let unattended = src.unattended();
            let unlock = |code| Request::Unlock {
                passphrase: passphrase.clone(),
                code,
                unattended,
                prior_failures: 0,
            };
            match s.hand_over(unlock(code), &passphrase) {
                // The factor lives inside the vault, so only the daemon knows it is on: ask now.
                Err(e) if e.code == "2fa-code-required" && !given && input::has_tty() => {
                    let code = Some(input::code(&code_src)?);
                    show(s.hand_over(unlock(code), &passphrase)?)
                }
                other => show(other?),
            }
        }
        Command::TwoFa(cmd) => two_factor(&mut s, cmd, json),
        Command::Lock => match s.call_if_running(Request::Lock)? {
            Some(r) => show(r),
            None => show(Reply::Done {
                message: "no daemon is running; the vault is locked".into(),
            }),
        },
        Command::Status => match s.call_if_running(Request::Status)? {
            Some(r) => show(r),
            None => {
                let initialized = kovra_core::store::LockedStore::exists(&s.paths.home);
                if json {
                    output::json(&serde_json::json!({
                        "kind": "status", "daemon": "not-running", "home": s.paths.home.display().to_string(),
                        "socket": s.paths.socket.display().to_string(), "initialized": initialized, "unlocked": false
                    }))
                } else {
                    println!("home:        {}", s.paths.home.display());
                    println!("socket:      {}", s.paths.socket.display());
                    println!("daemon:      not running (starts on first use)");
                    println!(
                        "vault:       {}",
                        if initialized {
                            "initialised, locked"
                        } else {
                            "not initialised (run `kovra init`)"
                        }
                    );
                    Ok(())
                }
            }
        },
        Command::Add {
            coordinate,
            sensitivity,
            description,
            revealable,
            totp,
            provider,
            value,
        } => {
            let coordinate = coord(&coordinate)?;
            let value = input::value(&coordinate, value.stdin)?;
            show(s.call(Request::Add {
                coordinate,
                value,
                sensitivity,
                description,
                revealable,
                totp,
                provider,
            })?)
        }
        Command::Api(args) => api::api(&mut s, args, json),
        Command::Identity => share::identity(&mut s, json),
        Command::Share(args) => share::share(&mut s, args, json),
        Command::Receive(args) => share::receive(
            &mut s,
            &args.file,
            args.token_file.as_deref(),
            args.force,
            args.accept_sender,
            json,
        ),
        Command::Kit(cmd) => share::kit(&mut s, cmd, json),
        Command::Providers(args) => api::providers(&mut s, args, json),
        Command::Bind {
            coordinate,
            provider,
            host,
        } => show(s.call(Request::Bind {
            coordinate: coord(&coordinate)?,
            provider,
            host,
            proof: None,
        })?),
        Command::Code {
            coordinate,
            min_validity,
        } => show(s.call(Request::Code {
            coordinate: coord(&coordinate)?,
            min_validity,
            proof: None,
        })?),
        Command::Set { coordinate, value } => {
            let coordinate = coord(&coordinate)?;
            let value = input::value(&coordinate, value.stdin)?;
            show(s.call(Request::Set {
                coordinate,
                value,
                proof: None,
            })?)
        }
        Command::Generate {
            coordinate,
            length,
            charset,
            sensitivity,
            description,
            revealable,
            overwrite,
            provider,
        } => {
            let coordinate = coord(&coordinate)?;
            show(s.call(Request::Generate {
                coordinate,
                length,
                charset: charset.into(),
                sensitivity,
                description,
                revealable,
                overwrite,
                provider,
                proof: None,
            })?)
        }
        Command::List { env } => show(s.call(Request::List { env })?),
        Command::Show { coordinate } => show(s.call(Request::Show {
            coordinate: coord(&coordinate)?,
        })?),
        Command::Fingerprint { coordinate } => show(s.call(Request::Fingerprint {
            coordinate: coord(&coordinate)?,
            proof: None,
        })?),
        Command::Edit {
            coordinate,
            description,
            sensitivity,
            revealable,
            no_revealable,
        } => {
            let revealable = match (revealable, no_revealable) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            show(s.call(Request::Edit {
                coordinate: coord(&coordinate)?,
                description,
                sensitivity,
                revealable,
                proof: None,
            })?)
        }
        Command::Rm { coordinate } => show(s.call(Request::Remove {
            coordinate: coord(&coordinate)?,
            proof: None,
        })?),
        Command::History { coordinate } => show(s.call(Request::History {
            coordinate: coord(&coordinate)?,
        })?),
        Command::Rollback {
            coordinate,
            version,
        } => show(s.call(Request::Rollback {
            coordinate: coord(&coordinate)?,
            version,
            proof: None,
        })?),
        Command::Reveal { coordinate } => show(s.call(Request::Reveal {
            coordinate: coord(&coordinate)?,
            proof: None,
        })?),
        Command::Audit(args) => match args.command {
            Some(AuditCommand::Verify) => show(s.call(Request::AuditVerify)?),
            None => {
                let since = args.since.as_deref().map(parse_since).transpose()?;
                let coordinate = args.coordinate.as_deref().map(coord).transpose()?;
                show(s.call(Request::Audit {
                    coordinate,
                    since,
                    action: args.action,
                })?)
            }
        },
        Command::Passwd {
            old,
            new_passphrase_file,
        } => {
            let old = input::passphrase(&old, "current passphrase: ", false)?;
            let new_src = cli::PassphraseSource {
                passphrase_file: new_passphrase_file,
                passphrase_fd: None,
            };
            let new = input::passphrase(&new_src, "new passphrase: ", true)?;
            // The daemon first shows it holds the key the current passphrase derives: a
            // process posing as it never sees either passphrase.
            s.verify(&old)?;
            show(s.call(Request::Passwd { old, new })?)
        }
        Command::RotateKey => show(s.call(Request::RotateKey { proof: None })?),
        Command::Project(ProjectCommand::Create { name }) => {
            show(s.call(Request::ProjectCreate { name })?)
        }
        Command::Project(ProjectCommand::List) => show(s.call(Request::ProjectList)?),
    }
}

fn two_factor(s: &mut Session, cmd: TwoFaCommand, json: bool) -> Result<(), CliError> {
    let show = |reply: Reply| output::reply(&reply, json);
    match cmd {
        TwoFaCommand::Status => show(s.call(Request::TwoFactorStatus)?),
        TwoFaCommand::Enable { code } => {
            let Reply::TwoFactorSetup { uri } = s.call(Request::TwoFactorEnable { proof: None })?
            else {
                return Err(CliError::new("internal", "unexpected reply", None));
            };
            let uri = String::from_utf8_lossy(uri.expose()).into_owned();
            output::two_factor_setup(&uri);
            drop(uri);
            let code = input::code(&code)?;
            show(s.call(Request::TwoFactorConfirm { code })?)
        }
        TwoFaCommand::Confirm { code } => {
            let code = input::code(&code)?;
            show(s.call(Request::TwoFactorConfirm { code })?)
        }
        TwoFaCommand::Disable { passphrase, code } => {
            let passphrase = input::passphrase(&passphrase, "passphrase: ", false)?;
            let code = input::code(&code)?;
            s.verify(&passphrase)?;
            show(s.call(Request::TwoFactorDisable { passphrase, code })?)
        }
    }
}

/// `--since`: an RFC 3339 time, or a duration back from now.
fn parse_since(text: &str) -> Result<u64, CliError> {
    if let Ok(t) = humantime::parse_rfc3339_weak(text) {
        return Ok(t
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0));
    }
    let d: Duration = humantime::parse_duration(text).map_err(|_| {
        CliError::new(
            "since-invalid",
            format!("cannot read `{text}` as a time or a duration"),
            Some("use an RFC 3339 time (2026-11-23T10:00:00Z) or a duration (90m, 2h, 3days)"),
        )
    })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Ok(now.saturating_sub(d.as_secs()))
}

fn daemon(args: cli::DaemonArgs) -> Result<(), CliError> {
    let paths = kovra_proto::paths::Paths::from_env()
        .map_err(|e| CliError::new("no-home", e.to_string(), Some("set KOVRA_HOME")))?;
    if let Some(DaemonCommand::Stop) = args.command {
        let mut s = Session::new(None)?;
        return match s.call_if_running(Request::Shutdown)? {
            Some(r) => {
                // The daemon answers before it exits: wait until it is gone (its socket
                // removed), so the next command cannot reach the one that is stopping.
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                while s.paths.socket.exists() && std::time::Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
                output::reply(&r, false)
            }
            None => {
                eprintln!("kovra: no daemon is running");
                Ok(())
            }
        };
    }
    kovra_daemon::os::startup_check().map_err(|why| {
        CliError::new(
            "daemon-refused",
            format!("the daemon will not start: {why}"),
            Some("start it from a clean environment (no LD_* variables), not under a debugger"),
        )
    })?;
    if args.background {
        // Leave the terminal's session so its hangup or Ctrl-C does not reach the daemon.
        let _ = nix::unistd::setsid();
    }
    let _ = tracing_subscriber_init();
    let config = kovra_daemon::config::Config::load(&paths.config_file(), args.idle_timeout)
        .map_err(|e| {
            CliError::new(
                "config-invalid",
                e.to_string(),
                Some("fix or remove the config file"),
            )
        })?;
    let boot = args
        .boot_stdin
        .then(kovra_daemon::os::boot_socket_from_stdin)
        .transpose()
        .map_err(|e| {
            CliError::new(
                "daemon-failed",
                format!("--boot-stdin: {e}"),
                Some("started by hand? leave --boot-stdin out"),
            )
        })?;
    let daemon = kovra_daemon::Daemon::new(paths, config, kovra_core::crypto::KdfParams::default());
    kovra_daemon::serve(daemon, boot).map_err(|e| {
        let code = if matches!(e, kovra_daemon::ServeError::AlreadyRunning(_)) {
            "daemon-running"
        } else {
            "daemon-failed"
        };
        CliError::new(
            code,
            e.to_string(),
            Some("`kovra status` shows the running daemon; `kovra daemon stop` stops it"),
        )
    })
}

fn tracing_subscriber_init() -> Result<(), CliError> {
    kovra_daemon::init_logging();
    Ok(())
}
