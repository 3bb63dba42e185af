//! The command line of `kovra import` (a `.env` file into records) and `kovra export` (a
//! non-production environment out, as dotenv).

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use kovra_core::model::Sensitivity;

pub const IMPORT_EXAMPLES: &str = "\
Examples:
  kovra import .env --dry-run
  kovra import .env --env dev --group app --write-refs
  kovra import .env.staging --env staging --sensitivity high --shred
  kovra --project shop import .env --force
  DOTENV_PRIVATE_KEY_PRODUCTION=… kovra import --from-dotenvx .env.production --env production

Each NAME=value becomes secret:ENV/GROUP/NAME (default dev/app), all in one transaction: every
record is written, or none. The table names the records, never a value. The file is read the
way python-dotenv and Node's dotenv read it; a line they would read differently stops the
import at FILE:LINE:COLUMN. --shred overwrites and removes the file once the daemon has the
records.";

pub const EXPORT_EXAMPLES: &str = "\
Examples:
  kovra export --format dotenv --env dev > .env
  kovra export --format dotenv --env staging --group api

Writes every record of a non-production environment as NAME=value lines to standard output,
for you to leave kovra or hand to a tool that needs a file. It asks for your passphrase;
production is never exported (reveal one record at a time instead).";

fn parse_sensitivity(s: &str) -> Result<Sensitivity, String> {
    s.parse()
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The dotenv file to read.
    pub file: PathBuf,
    /// The environment of the new records (the ENV in `secret:ENV/GROUP/NAME`).
    #[arg(long = "env", value_name = "ENV", default_value = "dev")]
    pub env: String,
    /// Their group (the GROUP in `secret:ENV/GROUP/NAME`).
    #[arg(long, value_name = "GROUP", default_value = "app")]
    pub group: String,
    /// Every record's sensitivity: low, medium, high or inject-only (default medium; high
    /// for a value in a provider's key format).
    #[arg(long, value_parser = parse_sensitivity, value_name = "LEVEL")]
    pub sensitivity: Option<Sensitivity>,
    /// Also write `.env.refs` beside the file, wiring each name to its record.
    #[arg(long)]
    pub write_refs: bool,
    /// Replace records that exist, and an existing `.env.refs`.
    #[arg(long)]
    pub force: bool,
    /// After a successful import, overwrite the file and remove it.
    #[arg(long)]
    pub shred: bool,
    /// The file is encrypted by dotenvx: its `encrypted:` values are opened by the daemon
    /// with the private key from DOTENV_PRIVATE_KEY (or DOTENV_PRIVATE_KEY_<ENV> for
    /// `.env.<env>`), else typed at a hidden prompt.
    #[arg(long)]
    pub from_dotenvx: bool,
    /// Show what would be written, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// `NAME=value` lines that python-dotenv and Node's dotenv read back alike.
    Dotenv,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The output format.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: ExportFormat,
    /// The environment to export (never a production one).
    #[arg(long = "env", value_name = "ENV", default_value = "dev")]
    pub env: String,
    /// Only this group.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
}
