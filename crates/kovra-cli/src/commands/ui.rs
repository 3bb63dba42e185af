//! `kovra ui`: ask the daemon for a one-time login link to its web UI, print it, and open it.
//!
//! The link is a credential until its first use, so it never goes into a process argument
//! (any process of the user can read `/proc/PID/cmdline`): to open a browser, a private page
//! (mode 0600, in the daemon's runtime directory) that forwards to the link is written, and
//! its *path* is what `xdg-open` gets. The page is removed once the browser had time to read
//! it; the link dies at its first use anyway.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kovra_proto::{ErrorCode, Reply, Request};

use crate::cli_ui::UiArgs;
use crate::error::CliError;
use crate::render::Renderer;
use crate::session::Session;

/// How long the forwarding page stays for the browser to read it.
const PAGE_LIFE: Duration = Duration::from_secs(5);

pub(super) fn run(s: &mut Session, args: UiArgs, out: &Renderer) -> Result<(), CliError> {
    let reply = s.call(Request::Ui { port: args.port })?;
    let Reply::UiLink { url, .. } = &reply else {
        return Err(CliError::new(ErrorCode::Internal, "unexpected reply", None));
    };
    out.reply(&reply)?;
    if args.no_open || out.is_json() {
        return Ok(());
    }
    let dir = s
        .paths()
        .socket
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    match open(&dir, url.expose()) {
        Ok(()) => {}
        Err(e) => eprintln!("kovra: not opening a browser ({e}); open the link above yourself"),
    }
    Ok(())
}

/// Hand a forwarding page to the desktop's opener, then remove it.
fn open(dir: &Path, url: &[u8]) -> Result<(), String> {
    let has_display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
    if !has_display {
        return Err("no graphical session".into());
    }
    let mut name = [0u8; 8];
    getrandom::fill(&mut name).map_err(|e| e.to_string())?;
    let page: PathBuf = dir.join(format!("ui-{}.html", hex::encode(name)));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&page)
        .and_then(|mut f| {
            f.write_all(b"<!doctype html><meta http-equiv=\"refresh\" content=\"0;url=")?;
            f.write_all(url)?;
            f.write_all(b"\"><title>kovra</title>")
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&page);
        return Err(format!("cannot write {}: {e}", page.display()));
    }
    let started = std::process::Command::new("xdg-open")
        .arg(&page)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    std::thread::sleep(PAGE_LIFE);
    let _ = std::fs::remove_file(&page);
    match started {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("xdg-open exited with {status}")),
        Err(e) => Err(format!("cannot run xdg-open: {e}")),
    }
}
