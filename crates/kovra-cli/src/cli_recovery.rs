//! The command line of recovery: `recovery-kit`, `recover`, `backup` and `restore`.

use std::path::PathBuf;

use clap::Args;

use crate::cli::PassphraseSource;

/// `recovery-kit`: the kit is printed to the terminal, or written to `--out`.
#[derive(Debug, Args, Clone)]
pub struct RecoveryKitArgs {
    /// Write the kit to this new file (mode 0600) instead of the terminal. Keep it offline:
    /// with it, anyone can set a new passphrase.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `recover`: the kit is typed at a hidden prompt; the new passphrase twice.
#[derive(Debug, Args, Clone)]
pub struct RecoverArgs {
    /// Read the new passphrase from this file instead of asking twice at the terminal.
    #[arg(long, value_name = "PATH")]
    pub new_passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct BackupArgs {
    /// The backup file to write (it must not exist).
    pub file: PathBuf,
}

#[derive(Debug, Args, Clone)]
pub struct RestoreArgs {
    /// A file `kovra backup` wrote.
    pub file: PathBuf,
    /// Restore even a backup older than the vault's last acknowledged state (or another
    /// vault's): needs the passphrase typed at a terminal as a proof of presence.
    #[arg(long)]
    pub allow_rollback: bool,
    /// Where the backup's passphrase comes from (default: asked at the terminal).
    #[command(flatten)]
    pub passphrase: PassphraseSource,
}
