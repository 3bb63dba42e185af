//! One CLI invocation's conversation with the daemon, including the attended proof step.

use kovra_client::{Client, ClientError};
use kovra_core::model::{Origin, Surface};
use kovra_proto::paths::Paths;
use kovra_proto::{Context, Envelope, PROTOCOL_VERSION, Proof, Reply, Request, Response};

use crate::error::CliError;
use crate::input;

pub struct Session {
    pub paths: Paths,
    project: Option<String>,
    client: Option<Client>,
}

/// The origin this client claims. Without a terminal, or when told so, it is an agent;
/// the daemon tightens this further with what it observes.
fn claimed_origin() -> Origin {
    let forced_agent = std::env::var("KOVRA_ORIGIN").is_ok_and(|v| v.eq_ignore_ascii_case("agent"));
    if forced_agent || !input::has_tty() {
        Origin::Agent
    } else {
        Origin::Human
    }
}

fn autostart_enabled() -> bool {
    !std::env::var("KOVRA_NO_AUTOSTART").is_ok_and(|v| !v.is_empty() && v != "0")
}

impl Session {
    pub fn new(project: Option<String>) -> Result<Self, CliError> {
        let paths = Paths::from_env()
            .map_err(|e| CliError::new("no-home", e.to_string(), Some("set KOVRA_HOME")))?;
        Ok(Session {
            paths,
            project,
            client: None,
        })
    }

    fn client(&mut self, autostart: bool) -> Result<&mut Client, CliError> {
        if self.client.is_none() {
            let client = if autostart && autostart_enabled() {
                let exe = std::env::current_exe().map_err(|e| {
                    CliError::new(
                        "daemon-unreachable",
                        format!("cannot locate the kovra binary: {e}"),
                        None,
                    )
                })?;
                Client::connect_or_start(&self.paths, &exe)?
            } else {
                Client::connect(&self.paths)?
            };
            self.client = Some(client);
        }
        self.client
            .as_mut()
            .ok_or_else(|| CliError::new("internal", "no client", None))
    }

    pub fn envelope(&self, request: Request) -> Envelope {
        Envelope {
            v: PROTOCOL_VERSION,
            context: Context {
                surface: Surface::Cli,
                origin: claimed_origin(),
                scope: None,
                project: self.project.clone(),
            },
            request,
        }
    }

    /// Send without autostart; `Ok(None)` when no daemon is running.
    pub fn call_if_running(&mut self, request: Request) -> Result<Option<Reply>, CliError> {
        if self.client.is_none() {
            match Client::connect(&self.paths) {
                Ok(c) => self.client = Some(c),
                Err(ClientError::NotRunning(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
        self.call_inner(request, false).map(Some)
    }

    /// The open connection (after a call), for a run's descriptors and control frames.
    pub fn connection(&mut self) -> Result<&mut Client, CliError> {
        self.client
            .as_mut()
            .ok_or_else(|| CliError::new("internal", "not connected", None))
    }

    pub fn call(&mut self, request: Request) -> Result<Reply, CliError> {
        self.call_inner(request, true)
    }

    fn call_inner(&mut self, request: Request, autostart: bool) -> Result<Reply, CliError> {
        let envelope = self.envelope(request.clone());
        let response = self
            .client(autostart)?
            .call(&envelope)
            .map_err(CliError::from)?;
        match response {
            Response::Ok { reply } => Ok(*reply),
            Response::Error(e) => Err(e.into()),
            Response::NeedsProof {
                approval: Some(id),
                code,
                message,
                ..
            } if !input::has_tty() || claimed_origin() == Origin::Agent => {
                self.await_approval(request, &id, &code, &message)
            }
            Response::NeedsProof {
                challenge,
                code,
                message,
                expires_in,
                ..
            } => self.prove(request, challenge, &code, &message, expires_in),
        }
    }

    /// No terminal here, so the human approves out of band. By default say so and stop: the
    /// caller (often an agent's tool call, which must not hang) runs the same command again
    /// once the human approved. With `KOVRA_APPROVAL_WAIT=1`, wait for the decision instead.
    fn await_approval(
        &mut self,
        request: Request,
        id: &str,
        code: &str,
        message: &str,
    ) -> Result<Reply, CliError> {
        let wait = std::env::var("KOVRA_APPROVAL_WAIT").is_ok_and(|v| v == "1");
        if !wait {
            return Err(CliError::new(
                "needs-proof",
                format!("approval needed: {id}: {message} ({code})"),
                Some(&format!(
                    "ask the human to run `kovra approve {id}` in their own terminal, then run this command again \
                     (within 2 minutes; KOVRA_APPROVAL_WAIT=1 waits instead)"
                )),
            ));
        }
        let hint = format!("ask the human to run `kovra approve {id}` in their own terminal");
        eprintln!("kovra: approval needed: {id}: {message} ({code})");
        eprintln!("kovra: {hint}; waiting up to 2 minutes");
        let wait_for = self.envelope(Request::ApprovalWait { id: id.to_string() });
        let state = match self.client(false)?.call(&wait_for)? {
            Response::Ok { reply } => match *reply {
                Reply::ApprovalState { state, .. } => state,
                _ => "expired".into(),
            },
            Response::Error(e) => return Err(e.into()),
            Response::NeedsProof { .. } => "expired".into(),
        };
        match state.as_str() {
            "approved" => {
                eprintln!("kovra: request {id} approved");
                let again = self.envelope(request);
                match self.client(false)?.call(&again)? {
                    Response::Ok { reply } => Ok(*reply),
                    Response::Error(e) => Err(e.into()),
                    Response::NeedsProof { code, message, .. } => Err(CliError::new(
                        "needs-proof",
                        format!("{message} ({code})"),
                        Some(&hint),
                    )),
                }
            }
            "denied" => Err(CliError::new(
                "approval-denied",
                format!("request {id} was denied"),
                None,
            )),
            _ => Err(CliError::new(
                "approval-expired",
                format!("request {id} was not approved in time"),
                Some("run the command again and ask the human to approve it"),
            )),
        }
    }

    /// The attended step: only a human at this process's terminal can answer it.
    fn prove(
        &mut self,
        mut request: Request,
        challenge: String,
        code: &str,
        message: &str,
        expires_in: u64,
    ) -> Result<Reply, CliError> {
        if !input::has_tty() || claimed_origin() == Origin::Agent {
            return Err(CliError::new(
                "needs-proof",
                format!("{message} ({code})"),
                Some(
                    "run this command yourself in a terminal, where kovra can ask for your passphrase",
                ),
            ));
        }
        eprintln!("kovra: {message}");
        eprintln!(
            "kovra: approve by typing your passphrase, or a two-factor code if that is on (expires in {expires_in}s), or press Ctrl-C to refuse."
        );
        let passphrase = input::tty_prompt("passphrase: ")?;
        request.set_proof(Proof {
            challenge,
            passphrase,
        });
        let envelope = self.envelope(request);
        match self
            .client(false)?
            .call(&envelope)
            .map_err(CliError::from)?
        {
            Response::Ok { reply } => Ok(*reply),
            Response::Error(e) => Err(e.into()),
            Response::NeedsProof { code, message, .. } => Err(CliError::new(
                "needs-proof",
                format!("{message} ({code})"),
                Some("the proof was not accepted for this request; run the command again"),
            )),
        }
    }
}
