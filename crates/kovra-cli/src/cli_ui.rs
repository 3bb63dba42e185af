//! The command line of the web UI: `kovra ui`.

use clap::Args;

pub const UI_EXAMPLES: &str = "\
Examples:
  kovra ui                    # print a login link and open it in your browser
  kovra ui --no-open          # only print the link
  kovra ui --port 8377 --json

The daemon serves the UI on 127.0.0.1 only. The link works once, for two minutes, and is
traded for a session cookie; the session acts with your origin as the daemon sees this
command (an agent running it gets an agent's session), idles out after 15 minutes and ends
when the vault locks. The link is never put in a process argument: to open it, kovra writes a
private page in its runtime directory that forwards to it, and hands that file to xdg-open.";

#[derive(Debug, Args)]
pub struct UiArgs {
    /// Serve on this loopback port (default: a free one); only when the UI is not serving yet.
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Only print the link; do not open a browser.
    #[arg(long)]
    pub no_open: bool,
}
