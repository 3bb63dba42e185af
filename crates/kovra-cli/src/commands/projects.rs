//! `kovra project create|list`: project vaults, addressed with `--project`.

use kovra_proto::Request;

use crate::cli::ProjectCommand;
use crate::error::CliError;
use crate::render::Renderer;
use crate::session::Session;

pub fn run(s: &mut Session, command: ProjectCommand, out: &Renderer) -> Result<(), CliError> {
    let request = match command {
        ProjectCommand::Create { name } => Request::ProjectCreate { name },
        ProjectCommand::List => Request::ProjectList,
    };
    out.reply(&s.call(request)?)
}
