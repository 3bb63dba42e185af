//! `kovra 2fa status|enable|confirm|disable`: TOTP as a second factor for unlock and proofs.

use kovra_proto::ErrorCode;
use kovra_proto::{Reply, Request};

use crate::cli::TwoFaCommand;
use crate::error::CliError;
use crate::input;
use crate::render::{self, Renderer};
use crate::session::Session;

pub fn run(s: &mut Session, command: TwoFaCommand, out: &Renderer) -> Result<(), CliError> {
    match command {
        TwoFaCommand::Status => out.reply(&s.call(Request::TwoFactorStatus)?),
        TwoFaCommand::Enable { code } => {
            let Reply::TwoFactorSetup { uri } = s.call(Request::TwoFactorEnable { proof: None })?
            else {
                return Err(CliError::new(ErrorCode::Internal, "unexpected reply", None));
            };
            render::two_factor_setup(uri.expose())?;
            drop(uri);
            let code = input::code(&code)?;
            out.reply(&s.call(Request::TwoFactorConfirm { code })?)
        }
        TwoFaCommand::Confirm { code } => {
            let code = input::code(&code)?;
            out.reply(&s.call(Request::TwoFactorConfirm { code })?)
        }
        TwoFaCommand::Disable { passphrase, code } => {
            let passphrase = input::passphrase(&passphrase, "passphrase: ", false)?;
            let code = input::code(&code)?;
            s.verify(&passphrase)?;
            out.reply(&s.call(Request::TwoFactorDisable { passphrase, code })?)
        }
    }
}
