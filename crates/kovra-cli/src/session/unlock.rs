//! Unlocking at a terminal: `kovra unlock`, and the offer a command makes when it meets a
//! locked vault. The passphrase goes only through `Session::hand_over` (a daemon this
//! process starts, or one that shows it holds the key), as with any unlock. A wrong one is
//! asked again, a few times: the daemon itself slows each wrong answer down, so the retries
//! cannot be used to guess faster than it allows.

use std::io::IsTerminal;

use kovra_core::model::Origin;
use kovra_proto::{ErrorCode, Reply, Request, Secret};

use super::{Session, claimed_origin};
use crate::cli::CodeSource;
use crate::error::CliError;
use crate::input;

/// Passphrases typed at one prompt before giving up.
pub const TRIES: u32 = 3;

/// The daemon's pause before it answers a wrong passphrase, after `failures` of them.
fn daemon_pause_secs(failures: u32) -> f64 {
    kovra_proto::wrong_passphrase_pause(failures).as_secs_f64()
}

impl Session {
    /// Unlock with `passphrase`, asking at the terminal for the second-factor code when
    /// the vault has one (only the daemon knows: the factor lives inside the vault).
    pub fn unlock_once(
        &mut self,
        passphrase: &Secret,
        unattended: bool,
        code_src: &CodeSource,
    ) -> Result<Reply, CliError> {
        let given = code_src.code_file.is_some() || code_src.code_fd.is_some();
        let code = given.then(|| input::code(code_src)).transpose()?;
        let unlock = |code| Request::Unlock {
            passphrase: passphrase.clone(),
            code,
            unattended,
            prior_failures: 0,
            prior_bypasses: Vec::new(),
        };
        match self.hand_over(unlock(code), passphrase) {
            Err(e) if e.code == ErrorCode::TwoFactorCodeRequired && !given && input::has_tty() => {
                let code = Some(input::code(code_src)?);
                self.hand_over(unlock(code), passphrase)
            }
            other => other,
        }
    }

    /// Prompt for the passphrase (the first one may already have been typed) and unlock,
    /// asking again after a wrong one, up to [`TRIES`] in all. An empty answer stops.
    pub fn unlock_prompting(
        &mut self,
        first: Option<Secret>,
        code_src: &CodeSource,
    ) -> Result<Reply, CliError> {
        let mut first = first;
        let mut attempt = 1;
        loop {
            let passphrase = match first.take() {
                Some(p) => p,
                None => input::tty_prompt("passphrase: ")?,
            };
            if passphrase.is_empty() {
                return Err(CliError::new(
                    ErrorCode::PassphraseEmpty,
                    "no passphrase was typed; the vault stays locked",
                    Some("run `kovra unlock` when you are ready"),
                ));
            }
            match self.unlock_once(&passphrase, false, code_src) {
                Err(e) if e.code == ErrorCode::WrongPassphrase && attempt < TRIES => {
                    eprintln!(
                        "kovra: wrong passphrase (try {attempt} of {TRIES}); the daemon now waits at \
                         least {:.1}s before answering a wrong one",
                        daemon_pause_secs(attempt + 1)
                    );
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Whether a locked vault may be unlocked here and now: a person at a terminal (stdin
    /// and stderr both are one, and the controlling terminal opens), not an agent, and not
    /// on an agent profile's socket, where no passphrase is ever sent.
    pub(super) fn may_offer_unlock(&self, request: &Request) -> bool {
        let vault_request = !matches!(
            request,
            Request::Init { .. } | Request::Unlock { .. } | Request::Lock | Request::Status
        );
        vault_request
            && self.paths().agent_socket.is_none()
            && std::io::stdin().is_terminal()
            && std::io::stderr().is_terminal()
            && claimed_origin() == Origin::Human
            && input::has_tty()
    }

    /// Offer to unlock the vault `locked` said was locked; `Ok` once it is unlocked.
    pub(super) fn offer_unlock(&mut self, locked: CliError) -> Result<(), CliError> {
        if !self.paths().has_vault() {
            return Err(locked);
        }
        eprintln!(
            "kovra: the vault is locked; type its passphrase to unlock it (Enter alone stops)"
        );
        let reply = self.unlock_prompting(None, &CodeSource::default())?;
        if let Reply::Done { message } = reply {
            eprintln!("kovra: {message}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shown_pause_doubles_and_stops_at_eight_seconds() {
        assert!((daemon_pause_secs(1) - 0.5).abs() < f64::EPSILON);
        assert!((daemon_pause_secs(2) - 1.0).abs() < f64::EPSILON);
        assert!((daemon_pause_secs(9) - 8.0).abs() < f64::EPSILON);
    }
}
