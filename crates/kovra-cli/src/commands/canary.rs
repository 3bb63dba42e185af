//! `kovra canary`: plant canary records and list them. The daemon decides and mints the
//! fake value; nothing here ever holds it.

use kovra_proto::Request;

use crate::cli_canary::CanaryCommand;
use crate::error::CliError;
use crate::render::Renderer;
use crate::session::Session;

pub fn run(s: &mut Session, command: CanaryCommand, out: &Renderer) -> Result<(), CliError> {
    let request = match command {
        CanaryCommand::Create {
            coordinate,
            like,
            sensitivity,
            description,
        } => Request::CanaryCreate {
            coordinate,
            like,
            sensitivity,
            description,
            proof: None,
        },
        CanaryCommand::List => Request::CanaryList { proof: None },
    };
    out.reply(&s.call(request)?)
}
