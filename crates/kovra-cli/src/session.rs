//! One CLI invocation's conversation with the daemon, including the attended proof step.
//! Envelopes, error mapping and proof tags come from `kovra_client::Session`; what is the
//! CLI's own is the terminal: prompting for a proof, waiting for an approval, handing a
//! typed passphrase only to a daemon it started itself.

use kovra_client::{CallError, Challenge, Client, ClientError};
use kovra_core::model::{Origin, Surface};
use kovra_core::proof;
use kovra_proto::ErrorCode;
use kovra_proto::paths::Paths;
use kovra_proto::{Context, Proof, Reply, Request, Secret};

use crate::error::CliError;
use crate::input;

mod unlock;

pub struct Session {
    inner: kovra_client::Session,
    /// Wait this long for a parked request's approval (`kovra confirm`), whatever
    /// `KOVRA_APPROVAL_WAIT` says.
    wait: Option<std::time::Duration>,
}

/// The origin this client claims. Without a terminal, or when told so, it is an agent;
/// the daemon tightens this further with what it observes.
fn claimed_origin() -> Origin {
    let forced_agent = std::env::var("KOVRA_ORIGIN").is_ok_and(|v| v.eq_ignore_ascii_case("agent"))
        || std::env::var_os("KOVRA_AGENT_SOCKET").is_some_and(|v| !v.is_empty());
    if forced_agent || !input::has_tty() {
        Origin::Agent
    } else {
        Origin::Human
    }
}

fn autostart_enabled() -> bool {
    !std::env::var("KOVRA_NO_AUTOSTART").is_ok_and(|v| !v.is_empty() && v != "0")
}

impl From<CallError> for CliError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Refused(e) => e.into(),
            CallError::Client(e) => e.into(),
            CallError::NeedsProof(c) => CliError::new(
                ErrorCode::NeedsProof,
                format!("{} ({})", c.message, c.code),
                None,
            ),
        }
    }
}

impl Session {
    /// Wait up to `up_to` for the human to approve a parked request, instead of stopping.
    pub fn wait_for_approvals(&mut self, up_to: std::time::Duration) {
        self.wait = Some(up_to);
    }

    pub fn new(project: Option<String>) -> Result<Self, CliError> {
        let paths = Paths::from_env()
            .map_err(|e| CliError::new(ErrorCode::NoHome, e.to_string(), Some("set KOVRA_HOME")))?;
        let context = Context {
            surface: Surface::Cli,
            origin: claimed_origin(),
            scope: None,
            project,
        };
        // The front binary's daemon is the full binary beside it; the full binary's is itself.
        let daemon_exe = crate::front::full_binary().map(std::path::Path::to_path_buf);
        // Located once; a failure only matters when a daemon must be started.
        let autostart = autostart_enabled()
            .then(|| daemon_exe.clone().or_else(|| std::env::current_exe().ok()))
            .flatten();
        let inner = kovra_client::Session::new(paths, context)
            .with_autostart(autostart)
            .with_daemon_exe(daemon_exe);
        Ok(Session { inner, wait: None })
    }

    pub fn paths(&self) -> &Paths {
        self.inner.paths()
    }

    /// The context every request of this invocation carries.
    pub fn context(&self) -> &Context {
        self.inner.context()
    }

    pub fn envelope(&self, request: Request) -> kovra_proto::Envelope {
        self.inner.envelope(request)
    }

    /// `init` and `unlock`: the passphrase goes only to a daemon this process starts itself,
    /// over a socket pair (`kovra_client::boot`), never to whatever listens at the socket
    /// path. A locked daemon found running hands over and exits first; an unlocked one is
    /// asked to show it holds the key this passphrase derives, and nothing is sent to it.
    pub fn hand_over(&mut self, request: Request, passphrase: &Secret) -> Result<Reply, CliError> {
        if let Some(socket) = &self.paths().agent_socket {
            return Err(CliError::new(
                ErrorCode::AgentSocketRefused,
                format!(
                    "this session talks to an agent profile's socket ({}); a passphrase is never sent there",
                    socket.display()
                ),
                Some("the human creates and unlocks the vault at their own terminal"),
            ));
        }
        // Another `init` or `unlock` racing this one may win the home's lock first (its
        // daemon then answers the next round) or take over ours before it answered.
        let mut tries = 0;
        loop {
            match self.hand_over_once(request.clone(), passphrase) {
                // Or unlock the daemon we found locked before it could hand over to us, or
                // make it hand over (and exit) between our `status` and our `handover`, which
                // then finds the connection gone. Nothing secret was sent by then.
                Err(e)
                    if tries < 5
                        && matches!(
                            e.code,
                            ErrorCode::DaemonRunning
                                | ErrorCode::BootLost
                                | ErrorCode::VaultUnlocked
                                | ErrorCode::DaemonUnreachable
                        ) =>
                {
                    tries += 1;
                }
                Err(e) if e.code == ErrorCode::DaemonRunning => {
                    return Err(CliError::new(
                        ErrorCode::DaemonRunning,
                        format!(
                            "another process holds this home's daemon lock and did not hand over ({}); the passphrase was not sent",
                            e.message
                        ),
                        Some(
                            "if it is not a kovra daemon you started, find it (`cat /proc/locks`, ps) and stop it",
                        ),
                    ));
                }
                other => return other,
            }
        }
    }

    fn hand_over_once(
        &mut self,
        mut request: Request,
        passphrase: &Secret,
    ) -> Result<Reply, CliError> {
        self.inner.disconnect();
        match self.inner.call_if_running(Request::Status)? {
            Some(Reply::Status(status)) => {
                if status.unlocked {
                    if matches!(request, Request::Init { .. }) {
                        return Err(CliError::new(
                            ErrorCode::AlreadyInitialized,
                            format!(
                                "a vault already exists at {}",
                                self.inner.paths().home.display()
                            ),
                            Some("use `kovra unlock`; to start over, move the home away first"),
                        ));
                    }
                    // They replace the key or the file: an unlocked daemon (unlocked again
                    // since the command locked it) must not answer them with "already
                    // unlocked".
                    if matches!(request, Request::Recover { .. } | Request::Restore { .. }) {
                        return Err(CliError::new(
                            ErrorCode::VaultUnlocked,
                            "the vault was unlocked again while this command ran; nothing was sent",
                            Some("run the command again"),
                        ));
                    }
                    let unattended = matches!(
                        request,
                        Request::Unlock {
                            unattended: true,
                            ..
                        }
                    );
                    self.verify_as(passphrase, unattended)?;
                    return Ok(Reply::Done {
                        message: "vault already unlocked".into(),
                    });
                }
                let (failed, bypassed) = match self.inner.call_existing(Request::Handover) {
                    Ok(Reply::HandedOver {
                        failed_unlocks,
                        bypasses,
                    }) => (failed_unlocks, bypasses),
                    Ok(_) | Err(CallError::NeedsProof(_)) => (0, Vec::new()),
                    Err(e) => return Err(e.into()),
                };
                if let Request::Unlock {
                    prior_failures,
                    prior_bypasses,
                    ..
                } = &mut request
                {
                    *prior_failures = failed;
                    *prior_bypasses = bypassed;
                }
                self.inner.disconnect();
                // It answers before it exits: wait until its socket is gone.
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
                while self.inner.paths().socket.exists() && std::time::Instant::now() < deadline {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }
            Some(_) => return Err(CliError::new(ErrorCode::Internal, "unexpected reply", None)),
            None => {}
        }
        // The executable `new` located (none when autostart is off): a daemon of our own.
        let Some(exe) = self.inner.autostart() else {
            return Err(ClientError::NotRunning(self.inner.paths().socket.clone()).into());
        };
        let answer =
            kovra_client::boot(self.inner.paths(), exe, &self.envelope(request)).map_err(|e| {
                match e {
                    ClientError::BootLost(_) => {
                        CliError::new(ErrorCode::BootLost, e.to_string(), Some(e.hint()))
                    }
                    other => other.into(),
                }
            })?;
        Ok(kovra_client::settle(answer)?)
    }

    /// Check, before anything else is sent with this passphrase, that the daemon holds the
    /// key it derives (a nonce of ours, tagged with the proof key). A process posing as the
    /// daemon cannot answer, and neither can a wrong passphrase: both are refused here.
    pub fn verify(&mut self, passphrase: &Secret) -> Result<(), CliError> {
        self.verify_as(passphrase, false)
    }

    fn verify_as(&mut self, passphrase: &Secret, unattended: bool) -> Result<(), CliError> {
        let nonce = hex::encode(kovra_core::crypto::random_array::<16>());
        let Reply::Verified { kdf, daemon_tag } = self.call(Request::Verify {
            nonce: nonce.clone(),
            unattended,
        })?
        else {
            return Err(CliError::new(ErrorCode::Internal, "unexpected reply", None));
        };
        let key = proof::key_from_passphrase(passphrase.expose(), &kdf).map_err(|_| {
            CliError::new(
                ErrorCode::DaemonUnauthenticated,
                "the daemon asked for a key derivation no kovra vault uses; nothing was sent",
                Some("another process may be posing as the daemon: `kovra daemon stop` and retry"),
            )
        })?;
        if proof::verify(
            &key,
            proof::Role::Daemon,
            &nonce,
            &proof::VERIFY_DIGEST,
            &daemon_tag,
        ) {
            Ok(())
        } else {
            Err(CliError::new(
                ErrorCode::WrongPassphrase,
                "the passphrase does not open this vault (or the process at the socket is not its daemon); nothing was sent",
                Some("try again; check the keyboard layout"),
            ))
        }
    }

    /// Refuse, before anything is sent, a request that carries what a human typed (a
    /// two-factor code, a passphrase) when this session talks to an agent profile's socket:
    /// its peer is not authenticated, and the daemon refuses such requests there anyway.
    fn guard_agent_socket(&self, request: &Request) -> Result<(), CliError> {
        let typed = matches!(
            request,
            Request::TwoFactorConfirm { .. }
                | Request::TwoFactorDisable { .. }
                | Request::Passwd { .. }
                | Request::Verify { .. }
                | Request::Init { .. }
                | Request::Unlock { .. }
        );
        match &self.paths().agent_socket {
            Some(socket) if typed => Err(CliError::new(
                ErrorCode::AgentSocketRefused,
                format!(
                    "this session talks to an agent profile's socket ({}); a passphrase or a code is never sent there",
                    socket.display()
                ),
                Some("the human runs this at their own terminal, outside the sandbox"),
            )),
            _ => Ok(()),
        }
    }

    /// Send without autostart; `Ok(None)` when no daemon is running.
    pub fn call_if_running(&mut self, request: Request) -> Result<Option<Reply>, CliError> {
        self.guard_agent_socket(&request)?;
        match self.inner.call_if_running(request.clone()) {
            Ok(reply) => Ok(reply),
            Err(CallError::NeedsProof(asked)) => self.answer(request, *asked).map(Some),
            Err(e) => Err(e.into()),
        }
    }

    /// The open connection (after a call), for a run's descriptors and control frames.
    pub fn connection(&mut self) -> Result<&mut Client, CliError> {
        self.inner
            .connection()
            .ok_or_else(|| CliError::new(ErrorCode::Internal, "not connected", None))
    }

    /// Send `request`. A locked vault, with a person at this terminal, is offered to be
    /// unlocked (`unlock::offer_unlock`), and the request is then sent once more.
    pub fn call(&mut self, request: Request) -> Result<Reply, CliError> {
        match self.call_once(&request) {
            Err(e) if e.code == ErrorCode::VaultLocked && self.may_offer_unlock(&request) => {
                self.offer_unlock(e)?;
                self.call_once(&request)
            }
            other => other,
        }
    }

    /// One copy of the request per attempt (a value it carries is wiped with it), and one
    /// more only when a proof is asked for.
    fn call_once(&mut self, request: &Request) -> Result<Reply, CliError> {
        self.guard_agent_socket(request)?;
        match self.inner.call(request.clone()) {
            Ok(reply) => Ok(reply),
            Err(CallError::NeedsProof(asked)) => self.answer(request.clone(), *asked),
            Err(e) => Err(e.into()),
        }
    }

    /// Attach these descriptors to every `run` request this session sends.
    pub fn attach_run_fds(&mut self, fds: [std::os::fd::RawFd; 3]) {
        self.inner.attach_run_fds(fds);
    }

    /// A challenge: parked for approval when there is no terminal here, else proven at it.
    fn answer(&mut self, request: Request, asked: Challenge) -> Result<Reply, CliError> {
        let at_terminal = input::has_tty() && claimed_origin() != Origin::Agent;
        // Only a passkey can answer, which this terminal cannot give: the daemon parked the
        // request, and the human approves it with the passkey in the Web UI.
        let passkey_only = asked.options.passphrase.is_none()
            && !asked.options.code_accepted
            && asked.options.passkey.is_some();
        match &asked.approval {
            Some(id) if at_terminal && passkey_only => {
                let id = id.clone();
                eprintln!("kovra: {} ({})", asked.message, asked.code);
                if let Some(why) = &asked.options.passphrase_refused {
                    eprintln!("kovra: {why}");
                }
                let hint = format!("approve request {id} with your passkey in `kovra ui`");
                self.wait_for_decision(request, &id, &hint)
            }
            Some(id) if !at_terminal => {
                let id = id.clone();
                self.await_approval(request, &id, &asked.code, &asked.message)
            }
            _ => self.prove(request, asked),
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
        let wait =
            self.wait.is_some() || std::env::var("KOVRA_APPROVAL_WAIT").is_ok_and(|v| v == "1");
        if !wait {
            return Err(CliError::new(
                ErrorCode::NeedsProof,
                format!("approval needed: {id}: {message} ({code})"),
                Some(&format!(
                    "ask the human to run `kovra approve {id}` in their own terminal, then run this command again \
                     (within 2 minutes; KOVRA_APPROVAL_WAIT=1 waits instead)"
                )),
            ));
        }
        let hint = format!("ask the human to run `kovra approve {id}` in their own terminal");
        eprintln!("kovra: approval needed: {id}: {message} ({code})");
        self.wait_for_decision(request, id, &hint)
    }

    /// Wait (up to the session's wait, at most 2 minutes) for the human's decision on
    /// parked request `id`, then send the request again if it was approved.
    fn wait_for_decision(
        &mut self,
        request: Request,
        id: &str,
        hint: &str,
    ) -> Result<Reply, CliError> {
        let secs = self.wait.map_or(120, |d| d.as_secs().min(120));
        eprintln!("kovra: {hint}; waiting up to {secs} s");
        let state = match self.inner.call_existing(Request::ApprovalWait {
            id: id.to_string(),
            timeout_secs: self.wait.map(|d| d.as_secs()),
        }) {
            Ok(Reply::ApprovalState { state, .. }) => state,
            Ok(_) | Err(CallError::NeedsProof(_)) => "expired".into(),
            Err(e) => return Err(e.into()),
        };
        match state.as_str() {
            "approved" => {
                eprintln!("kovra: request {id} approved");
                match self.inner.call_existing(request) {
                    Err(CallError::NeedsProof(c)) => Err(CliError::new(
                        ErrorCode::NeedsProof,
                        format!("{} ({})", c.message, c.code),
                        Some(hint),
                    )),
                    other => Ok(other?),
                }
            }
            "denied" => Err(CliError::new(
                ErrorCode::ApprovalDenied,
                format!("request {id} was denied"),
                None,
            )),
            _ => Err(CliError::new(
                ErrorCode::ApprovalExpired,
                format!("request {id} was not approved in time"),
                Some("run the command again and ask the human to approve it"),
            )),
        }
    }

    /// The attended step: only a human at this process's terminal can answer it. The answer
    /// never leaves this process as typed: a passphrase becomes a MAC over this challenge and
    /// the digest of the request we sent (computed here, not taken from the daemon), after the
    /// daemon showed it holds the same key; a code goes as the code.
    fn prove(&mut self, request: Request, asked: Challenge) -> Result<Reply, CliError> {
        if !input::has_tty() || claimed_origin() == Origin::Agent {
            return Err(CliError::new(
                ErrorCode::NeedsProof,
                format!("{} ({})", asked.message, asked.code),
                Some(
                    "run this command yourself in a terminal, where kovra can ask for your passphrase",
                ),
            ));
        }
        let how = match (&asked.options.passphrase, asked.options.code_accepted) {
            (Some(_), true) => "typing your passphrase or a two-factor code",
            (Some(_), false) => "typing your passphrase",
            (None, true) => "typing a two-factor code (a passphrase is not accepted here)",
            (None, false) => {
                let why = asked
                    .options
                    .passphrase_refused
                    .as_deref()
                    .unwrap_or("this daemon accepts no passphrase");
                if asked.options.passkey.is_some() {
                    return Err(CliError::new(
                        ErrorCode::ProofInvalid,
                        format!("{}: {why}; only a passkey answers here", asked.message),
                        Some("do this in the browser, where your passkey can answer (`kovra ui`)"),
                    ));
                }
                return Err(CliError::new(
                    ErrorCode::ProofInvalid,
                    format!("{}: {why}, and no second factor is enrolled", asked.message),
                    Some(
                        "`kovra daemon stop`, unlock at a terminal (typing the passphrase), and retry; with `kovra 2fa enable` a code also answers after an unattended unlock",
                    ),
                ));
            }
        };
        if let Some(why) = &asked.options.passphrase_refused {
            eprintln!("kovra: {why}");
        }
        eprintln!("kovra: {}", asked.message);
        if let Some(sha) = &asked.options.program {
            eprintln!("kovra: the executable's sha256 is {sha}");
        }
        eprintln!(
            "kovra: approve by {how} (expires in {}s), or press Ctrl-C to refuse.",
            asked.expires_in
        );
        let prompt = if asked.options.passphrase.is_some() {
            "passphrase: "
        } else {
            "two-factor code: "
        };
        let answer = input::tty_prompt(prompt)?;
        let looks_like_code =
            (6..=8).contains(&answer.len()) && answer.expose().iter().all(u8::is_ascii_digit);
        let mut daemon_shown = true;
        let proof = if asked.options.code_accepted && looks_like_code {
            Proof {
                challenge: asked.id,
                mac: None,
                code: Some(answer),
                passkey: None,
            }
        } else if let Some(pc) = &asked.options.passphrase {
            let (proof, shown) = self
                .inner
                .passphrase_proof(&request, &asked, pc, &answer)
                .map_err(|_| {
                    CliError::new(
                        ErrorCode::DaemonUnauthenticated,
                        "the daemon asked for a key derivation weaker or costlier than any kovra vault uses; nothing was sent",
                        Some("another process may be posing as the daemon: `kovra daemon stop` and retry"),
                    )
                })?;
            daemon_shown = shown;
            proof
        } else {
            return Err(CliError::new(
                ErrorCode::ProofInvalid,
                "that is not a two-factor code",
                Some("type the current code from your authenticator app"),
            ));
        };
        match self.inner.call_with_proof(request, proof) {
            Ok(reply) => Ok(reply),
            Err(CallError::Refused(e)) if !daemon_shown && e.code == ErrorCode::ProofInvalid => {
                Err(CliError::new(
                    ErrorCode::ProofInvalid,
                    "wrong passphrase, or the process at the socket is not your vault's daemon (it could not show it holds your vault's key)",
                    Some(
                        "run the command again and retype the passphrase; if it is right, check `kovra status` before typing it again",
                    ),
                ))
            }
            Err(CallError::NeedsProof(c)) => Err(CliError::new(
                ErrorCode::NeedsProof,
                format!("{} ({})", c.message, c.code),
                Some("the proof was not accepted for this request; run the command again"),
            )),
            Err(e) => Err(e.into()),
        }
    }
}
