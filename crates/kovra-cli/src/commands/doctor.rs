//! `kovra doctor`: the daemon checks a refs file against the vault and the caller's
//! environment (`doctor --system` is `system_check.rs`).

use std::path::PathBuf;

use kovra_proto::Request;

use super::run::read_refs;
use crate::error::CliError;
use crate::render::Renderer;
use crate::session::Session;

pub fn run(
    s: &mut Session,
    env_name: Option<String>,
    refs: Option<PathBuf>,
    out: &Renderer,
) -> Result<(), CliError> {
    let (text, path) = read_refs(refs)?;
    // Only the names: whether a refs variable would shadow one the caller already has.
    let caller_vars = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .collect();
    let env_name = super::run::env_name(env_name, Some(&text));
    out.reply(&s.call(Request::Doctor {
        refs: text,
        refs_path: path,
        env_name,
        caller_vars,
    })?)
}
