//! The command line of canary records: `kovra canary create COORD --like PROVIDER`, and
//! `kovra canary list`.

use clap::Subcommand;
use kovra_core::model::Sensitivity;

use crate::examples;

#[derive(Debug, Subcommand)]
pub enum CanaryCommand {
    /// Plant a canary: a fake key in the provider's format, stored and listed like any
    /// record; any use of it is refused as if it were missing, audited and notified.
    #[command(after_help = examples::CANARY_CREATE)]
    Create {
        /// The record's coordinate, e.g. `secret:dev/billing/OPENAI_API_KEY`.
        coordinate: String,
        /// The provider whose key format the fake takes, and the record's pin
        /// (`kovra providers` lists them).
        #[arg(long, value_name = "PROVIDER")]
        like: String,
        /// How protected it looks: low, medium, high or inject-only (default as `add`'s).
        #[arg(long, value_parser = parse_sensitivity, value_name = "LEVEL")]
        sensitivity: Option<Sensitivity>,
        /// What it claims to be for, shown by `list` and `show` as any description.
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
    },
    /// The canary records (yours alone: needs your passphrase; an agent is refused).
    #[command(after_help = examples::CANARY_LIST)]
    List,
}

fn parse_sensitivity(s: &str) -> Result<Sensitivity, String> {
    s.parse()
}
