//! The commands, one module per command or family. Each gathers its input (never a value
//! from argv), talks to the daemon through a [`Session`], and hands what it got to the
//! [`Renderer`]; none prints a reply itself or exits the process.

mod agent;
pub mod agent_rules;
mod api;
mod approvals;
mod audit;
mod canary;
mod completions;
mod confirm;
mod daemon;
mod demo;
mod doctor;
mod file_guard;
mod import;
mod leakscan;
mod passkey;
mod projects;
mod query;
mod records;
mod recovery;
mod run;
mod sandbox;
mod scaffold;
mod setup;
mod share;
mod ssh;
mod sshkey;
pub mod system_check;
mod two_factor;
mod ui;
mod vault;

use kovra_core::coord::Coordinate;
use kovra_proto::ErrorCode;

use crate::cli::{Cli, Command, HookCommand, HooksCommand};
use crate::error::CliError;
use crate::render::Renderer;
use crate::session::Session;

/// Run the parsed command line. Success carries the exit code: 0, or the code `run` mirrors
/// from its child and the file-guard hook gives its verdict with.
pub fn run(cli: Cli) -> Result<u8, CliError> {
    if matches!(
        cli.command,
        Command::Run(_) | Command::Status(_) | Command::List(_)
    ) {
        return run_hot(cli);
    }
    let out = Renderer::new(cli.globals.json);
    let project = cli.globals.project;
    match cli.command {
        Command::Hook(HookCommand::FileGuard) => return Ok(file_guard::run()),
        Command::Hook(HookCommand::PreCommit) => return leakscan::pre_commit(project),
        Command::Hook(HookCommand::Prompt) => return leakscan::prompt(project),
        Command::Hook(HookCommand::ToolOutput) => return leakscan::tool_output(project),
        Command::Hooks(HooksCommand::Install { force }) => {
            let path = leakscan::install(force)?;
            if out.is_json() {
                println!(
                    "{}",
                    serde_json::json!({"kind": "hooks-installed", "path": path})
                );
            } else {
                println!("pre-commit hook written: {}", path.display());
            }
            return Ok(0);
        }
        Command::Daemon(args) => daemon::run(args)?,
        Command::Demo => demo::run()?,
        Command::Completions { shell } => completions::completions(shell)?,
        Command::Man { dir } => completions::man(dir.as_deref())?,
        Command::Doctor { system: true, .. } => system_check::run(&out)?,
        Command::SandboxInit(args) => return sandbox::init(args),
        Command::Sandbox(args) => {
            let mut s = Session::new(project)?;
            return sandbox::run(&mut s, args);
        }
        Command::Ssh(args) => {
            let mut s = Session::new(project)?;
            return ssh::ssh(&mut s, args, &out, cli.globals.json);
        }
        Command::Mcp { agent } => kovra_mcp::serve(agent).map_err(|e| {
            CliError::new(
                ErrorCode::McpFailed,
                format!("the MCP server stopped: {e:#}"),
                None,
            )
        })?,
        command => {
            let mut s = Session::new(project.clone())?;
            with_session(&mut s, command, project, &out)?;
        }
    }
    Ok(0)
}

/// The commands the front program runs itself (`crate::front`): they alone are linked
/// into it, so nothing here may reach the rest of the command set.
pub fn run_hot(cli: Cli) -> Result<u8, CliError> {
    let project = cli.globals.project;
    let out = Renderer::new(cli.globals.json);
    let mut s = Session::new(project)?;
    match cli.command {
        Command::Run(args) => return run::run(&mut s, args),
        Command::Status(args) => vault::status(&mut s, args.agents, &out)?,
        Command::List(crate::cli_hot::ListArgs {
            env,
            wide,
            offset,
            limit,
        }) => records::list(&mut s, &out.wide(wide), env, offset, limit)?,
        _ => {
            return Err(CliError::new(
                ErrorCode::Internal,
                "not a command of the front program",
                None,
            ));
        }
    }
    Ok(0)
}

/// The commands that talk to the daemon. `project` is the `--project` flag as given.
fn with_session(
    s: &mut Session,
    command: Command,
    project: Option<String>,
    out: &Renderer,
) -> Result<(), CliError> {
    match command {
        c @ (Command::Add { .. }
        | Command::Code { .. }
        | Command::Set { .. }
        | Command::Generate { .. }
        | Command::Show { .. }
        | Command::Fingerprint { .. }
        | Command::Edit { .. }
        | Command::Rm { .. }
        | Command::Mv { .. }
        | Command::Rename { .. }
        | Command::History { .. }
        | Command::Rollback { .. }
        | Command::Reveal { .. }
        | Command::Bind { .. }) => records::run(s, c, out),
        c @ (Command::Keygen(_)
        | Command::Pubkey { .. }
        | Command::Sign(_)
        | Command::SshAgent(_)) => sshkey::run(s, c, out),
        c @ (Command::Init(_)
        | Command::Unlock { .. }
        | Command::Lock
        | Command::Passwd { .. }
        | Command::RotateKey) => vault::run(s, c, out),
        c @ (Command::Approve { .. }
        | Command::Grants { .. }
        | Command::Deny { .. }
        | Command::Requests
        | Command::Allow(_)) => approvals::run(s, c, out),
        c @ (Command::RecoveryKit(_)
        | Command::Recover(_)
        | Command::Backup(_)
        | Command::Restore(_)) => recovery::run(s, c, out),
        Command::TwoFa(cmd) => two_factor::run(s, cmd, out),
        Command::Confirm { text, ttl } => confirm::run(s, text, ttl, out),
        Command::Agent(cmd) => agent::run(s, cmd, out),
        Command::Audit(args) => audit::run(s, args, out),
        Command::Project(cmd) => projects::run(s, cmd, out),
        Command::Doctor {
            env_name,
            refs,
            connect,
            ..
        } => doctor::run(s, env_name, refs, connect, out),
        Command::Scaffold(args) => scaffold::run(s, args, project, out),
        Command::Setup {
            environments,
            operations,
            no_hooks,
            dry_run,
            clients,
            agent,
            sandbox,
            srt_settings,
            inject_values,
            passphrase,
        } => setup::run(
            s,
            setup::Options {
                project,
                environments,
                operations,
                no_hooks,
                dry_run,
                passphrase,
                clients,
                agent,
                sandbox,
                srt_settings,
                inject_values,
            },
            out,
        ),
        Command::Api(args) => api::api(s, args, out),
        Command::Providers(args) => api::providers(s, args, out),
        Command::Identity => share::identity(s, out),
        Command::Share(args) => share::share(s, args, out),
        Command::Receive(args) => share::receive(
            s,
            &args.file,
            args.token_file.as_deref(),
            args.force,
            args.accept_sender,
            out,
        ),
        Command::Kit(cmd) => share::kit(s, cmd, out),
        Command::SshHost(cmd) => ssh::ssh_host(s, cmd, out),
        Command::Query(args) => query::query(s, args, out),
        Command::Ui(args) => ui::run(s, args, out),
        Command::Import(args) => import::import(s, args, project.as_deref(), out),
        Command::Export(args) => import::export(s, args, out),
        Command::Canary(cmd) => canary::run(s, cmd, out),
        Command::Passkey(cmd) => passkey::run(s, cmd, out),
        // Handled in `run`, without a session.
        Command::Daemon(_)
        | Command::Demo
        | Command::Completions { .. }
        | Command::Man { .. }
        | Command::Run(_)
        | Command::Status(_)
        | Command::List(_)
        | Command::Hook(_)
        | Command::Hooks(_)
        | Command::Mcp { .. }
        | Command::Ssh(_)
        | Command::Sandbox(_)
        | Command::SandboxInit(_) => Ok(()),
    }
}

/// Parse locally first, so a typo is reported before any connection is made.
fn coord(text: &str) -> Result<String, CliError> {
    Coordinate::parse(text)?;
    Ok(text.to_string())
}
