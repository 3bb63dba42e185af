//! The command line of passkeys: `kovra passkey list`, `kovra passkey remove ID`, and
//! `kovra passkey enrol`, which only points at the Web UI (a passkey is made in a browser).

use clap::Subcommand;

use crate::examples;

#[derive(Debug, Subcommand)]
pub enum PasskeyCommand {
    /// The enrolled passkeys: id, name, when enrolled and last used (never a key).
    #[command(after_help = examples::PASSKEY_LIST)]
    List,
    /// Remove an enrolled passkey (needs a proof of presence; with `passkey_for` on in
    /// config.toml, a passkey's).
    #[command(after_help = examples::PASSKEY_REMOVE)]
    Remove {
        /// The passkey's id, as `kovra passkey list` shows it.
        id: String,
    },
    /// How to enrol one: in the browser, through `kovra ui`.
    #[command(after_help = examples::PASSKEY_ENROL)]
    Enrol,
}
