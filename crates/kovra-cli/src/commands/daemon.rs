//! `kovra daemon [stop]`: this binary is also the daemon. Starting refuses an unsafe
//! environment (`kovra_daemon::os::startup_check`); stopping waits until it is gone.

use kovra_proto::ErrorCode;
use std::time::Duration;

use kovra_proto::Request;

use crate::cli::{DaemonArgs, DaemonCommand};
use crate::error::CliError;
use crate::render::Renderer;
use crate::session::Session;

pub fn run(args: DaemonArgs) -> Result<(), CliError> {
    let paths = kovra_proto::paths::Paths::from_env()
        .map_err(|e| CliError::new(ErrorCode::NoHome, e.to_string(), Some("set KOVRA_HOME")))?;
    if let Some(DaemonCommand::Stop) = args.command {
        return stop();
    }
    kovra_daemon::os::startup_check().map_err(|why| {
        CliError::new(
            ErrorCode::DaemonRefused,
            format!("the daemon will not start: {why}"),
            ErrorCode::DaemonRefused.hint(),
        )
    })?;
    if args.background {
        // Leave the terminal's session so its hangup or Ctrl-C does not reach the daemon.
        let _ = nix::unistd::setsid();
    }
    kovra_daemon::init_logging();
    let invalid = |e: kovra_daemon::config::ConfigError| {
        CliError::new(
            ErrorCode::ConfigInvalid,
            e.to_string(),
            Some("fix or remove the config file"),
        )
    };
    if let Some(to) = kovra_daemon::config::migrate_legacy(&paths).map_err(invalid)? {
        // The daemon's stderr: its log.
        eprintln!(
            "kovra daemon: moved config.toml from the data directory to {}",
            to.display()
        );
    }
    let config = kovra_daemon::config::Config::load(&paths.config_file(), args.idle_timeout)
        .map_err(|e| {
            CliError::new(
                ErrorCode::ConfigInvalid,
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
                ErrorCode::DaemonFailed,
                format!("--boot-stdin: {e}"),
                Some("started by hand? leave --boot-stdin out"),
            )
        })?;
    let daemon = kovra_daemon::Daemon::new(paths, config);
    kovra_daemon::serve(daemon, boot).map_err(|e| {
        let code = if matches!(e, kovra_daemon::ServeError::AlreadyRunning(_)) {
            kovra_proto::ErrorCode::DaemonRunning
        } else {
            kovra_proto::ErrorCode::DaemonFailed
        };
        CliError::new(
            code,
            e.to_string(),
            Some("`kovra status` shows the running daemon; `kovra daemon stop` stops it"),
        )
    })
}

/// Always a confirmation for a person, also under `--json`.
fn stop() -> Result<(), CliError> {
    let mut s = Session::new(None)?;
    match s.call_if_running(Request::Shutdown)? {
        Some(r) => {
            // The daemon answers before it exits: wait until it is gone (its socket
            // removed), so the next command cannot reach the one that is stopping.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while s.paths().socket.exists() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            Renderer::new(false).reply(&r)
        }
        None => {
            eprintln!("kovra: no daemon is running");
            Ok(())
        }
    }
}
