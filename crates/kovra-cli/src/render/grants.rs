//! Session grants as a person reads them: `kovra grants` and what `approve --grant` made.

use kovra_proto::GrantView;

use super::human::fact_lines;
use super::line;
use crate::error::CliError;

/// Seconds left, as a person reads them.
fn minutes(secs: u64) -> String {
    if secs >= 120 {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

/// One session grant: its id, kind and end, then what it covers (the approver's facts).
fn grant(view: &GrantView) -> String {
    let mut out = format!(
        "grant {}: {}{} (approval {}), expires in {}\n",
        view.id,
        view.kind,
        view.agent
            .as_deref()
            .map_or(String::new(), |a| format!(" for agent {a}")),
        view.approval,
        minutes(view.expires_in)
    );
    let width = super::width::columns(false);
    for f in &view.covers {
        out.push_str(&fact_lines(f, "", width));
    }
    out.push_str(&format!("  revoke: kovra grants revoke {}\n", view.id));
    out
}

/// The live grants, or a note that there are none.
pub fn list(grants: &[GrantView]) -> Result<(), CliError> {
    if grants.is_empty() {
        eprintln!("kovra: no session grant is live");
    }
    for g in grants {
        line(grant(g).trim_end())?;
    }
    Ok(())
}

/// What an approval with `--grant` made.
pub fn made(approval: &str, g: &GrantView) -> Result<(), CliError> {
    eprintln!(
        "kovra: request {approval} approved; grant {} lets it through for {} (`kovra grants revoke {}` ends it)",
        g.id,
        minutes(g.expires_in),
        g.id
    );
    Ok(())
}
