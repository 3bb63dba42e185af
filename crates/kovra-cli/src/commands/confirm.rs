//! `kovra confirm TEXT`: a script's step approved by the human. At a terminal the human
//! proves presence here; without one the request is parked and this waits (`--ttl`) for
//! `kovra approve`. Exit 0 only when approved.

use std::time::Duration;

use kovra_proto::Request;

use crate::error::CliError;
use crate::render::Renderer;
use crate::session::Session;

pub fn run(s: &mut Session, text: String, ttl: u64, out: &Renderer) -> Result<(), CliError> {
    s.wait_for_approvals(Duration::from_secs(ttl));
    out.reply(&s.call(Request::Confirm { text, proof: None })?)
}
