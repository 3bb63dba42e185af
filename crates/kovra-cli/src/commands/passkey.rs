//! `kovra passkey`: list and remove enrolled passkeys. Enrolling needs a browser and an
//! authenticator, so it happens in the Web UI (`kovra ui`); this command only says so.

use kovra_proto::{Reply, Request};

use crate::cli_passkey::PasskeyCommand;
use crate::error::CliError;
use crate::render::Renderer;
use crate::session::Session;

pub fn run(s: &mut Session, command: PasskeyCommand, out: &Renderer) -> Result<(), CliError> {
    let reply = match command {
        PasskeyCommand::List => s.call(Request::PasskeyList)?,
        PasskeyCommand::Remove { id } => s.call(Request::PasskeyRemove { id, proof: None })?,
        PasskeyCommand::Enrol => Reply::Done {
            message: "passkeys are enrolled in the browser: run `kovra ui`, open the page it prints, and choose \"Add a passkey\"".into(),
        },
    };
    out.reply(&reply)
}
