//! The command line of session grants: `kovra grants` lists them, `kovra grants revoke ID`
//! ends one; `kovra approve ID --grant 15m` makes one (its flag lives on `approve`).

use clap::Subcommand;

use crate::examples;

#[derive(Debug, Subcommand)]
pub enum GrantsCommand {
    /// The live grants: id, kind, what each covers, and when it expires (the default).
    #[command(after_help = examples::GRANTS_LIST)]
    List,
    /// End a grant now; the run it covered is parked again for approval.
    #[command(after_help = examples::GRANTS_REVOKE)]
    Revoke {
        /// The grant, as `kovra grants` lists it.
        id: String,
    },
}

/// A grant's duration: `15m`, `2h`, `90` (minutes), between 1 minute and 8 hours (the
/// daemon refuses what is out of range, with its reason).
pub fn parse_minutes(s: &str) -> Result<u32, String> {
    let s = s.trim();
    let (number, unit) = match s.strip_suffix('h') {
        Some(n) => (n, 60),
        None => (s.strip_suffix('m').unwrap_or(s), 1),
    };
    number
        .parse::<u32>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| format!("`{s}` is not a duration: give minutes or hours, e.g. 15m or 2h"))
}
