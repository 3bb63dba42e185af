//! One surface's conversation with the daemon: the context every request carries, and the
//! one place a response becomes a reply, a refusal or a request for proof. The CLI and the
//! MCP server differ only in what they do with a [`Challenge`] (prompt at the terminal, or
//! tell the agent to ask the human), so that decision stays with them.

use std::os::fd::RawFd;
use std::path::PathBuf;

use kovra_core::proof;
use kovra_proto::paths::Paths;
use kovra_proto::{
    Context, Envelope, ErrorCode, ErrorReply, PassphraseChallenge, Proof, ProofOptions, Reply,
    Request, Response, Secret,
};

use crate::{Client, ClientError};

/// Why a call did not end in a reply.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The daemon answered with an error (its code, message and hint).
    #[error("{}", .0.message)]
    Refused(ErrorReply),
    /// The daemon asks for a proof of presence, or parked the request for approval.
    #[error("{} ({})", .0.message, .0.code)]
    NeedsProof(Box<Challenge>),
    /// No daemon could be reached, or the process at the socket is not this home's daemon.
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl CallError {
    /// The catalogue code of this failure. A challenge is `needs-proof`, or
    /// `approval-needed` when the request was parked.
    pub fn code(&self) -> ErrorCode {
        match self {
            CallError::Refused(e) => e.code,
            CallError::NeedsProof(c) if c.approval.is_some() => ErrorCode::ApprovalNeeded,
            CallError::NeedsProof(_) => ErrorCode::NeedsProof,
            CallError::Client(e) => e.code(),
        }
    }
}

/// A challenge as the daemon asked it.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub id: String,
    /// The policy reason (`docs/errors.md` §4).
    pub code: String,
    pub message: String,
    /// Seconds until the challenge expires.
    pub expires_in: u64,
    /// The approval id, when the request was parked for `kovra approve`.
    pub approval: Option<String>,
    pub options: ProofOptions,
}

/// What a surface does with a response: the one mapping every surface shares.
pub fn settle(response: Response) -> Result<Reply, CallError> {
    match response {
        Response::Ok { reply } => Ok(*reply),
        Response::Error(e) => Err(CallError::Refused(e)),
        Response::NeedsProof {
            challenge,
            code,
            message,
            expires_in,
            approval,
            answer,
        } => Err(CallError::NeedsProof(Box::new(Challenge {
            id: challenge,
            code,
            message,
            expires_in,
            approval,
            options: *answer,
        }))),
    }
}

/// The context of every request of one surface, and its connection.
pub struct Session {
    paths: Paths,
    context: Context,
    /// The executable to start a daemon from when none runs; `None`: never start one.
    autostart: Option<PathBuf>,
    /// The executable the daemon must be running; `None`: this process's own.
    daemon_exe: Option<PathBuf>,
    client: Option<Client>,
    /// Descriptors that go with every `run` request (its stdin, stdout and stderr), so the
    /// daemon holds them before it decides.
    run_fds: Option<[RawFd; 3]>,
}

impl Session {
    pub fn new(paths: Paths, context: Context) -> Self {
        Session {
            paths,
            context,
            autostart: None,
            daemon_exe: None,
            client: None,
            run_fds: None,
        }
    }

    /// Start a daemon from `exe` when none is running (`None`: never).
    pub fn with_autostart(mut self, exe: Option<PathBuf>) -> Self {
        self.autostart = exe;
        self
    }

    /// Expect the daemon to run `exe` rather than this process's own executable: for a
    /// client that is not itself the program the daemon runs (the `kovra` front binary).
    pub fn with_daemon_exe(mut self, exe: Option<PathBuf>) -> Self {
        self.daemon_exe = exe;
        self
    }

    /// The executable this session starts a daemon from (`None`: it never starts one).
    pub fn autostart(&self) -> Option<&std::path::Path> {
        self.autostart.as_deref()
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The envelope this session sends `request` in.
    pub fn envelope(&self, request: Request) -> Envelope {
        Envelope::new(self.context.clone(), request)
    }

    /// Attach these descriptors to every `run` request this session sends.
    pub fn attach_run_fds(&mut self, fds: [RawFd; 3]) {
        self.run_fds = Some(fds);
    }

    /// Drop the connection; the next call opens a new one.
    pub fn disconnect(&mut self) {
        self.client = None;
    }

    /// The open connection, after a call: a run's control frames travel on it.
    pub fn connection(&mut self) -> Option<&mut Client> {
        self.client.as_mut()
    }

    fn client(&mut self, autostart: bool) -> Result<&mut Client, ClientError> {
        let client = match self.client.take() {
            Some(client) => client,
            None => match (&self.autostart, autostart) {
                (Some(exe), true) => Client::connect_or_start(&self.paths, exe)?,
                _ => match &self.daemon_exe {
                    Some(exe) => Client::connect_expecting(&self.paths, exe)?,
                    None => Client::connect(&self.paths)?,
                },
            },
        };
        Ok(self.client.insert(client))
    }

    /// One request and its reply, starting the daemon if this session may.
    pub fn call(&mut self, request: Request) -> Result<Reply, CallError> {
        let envelope = self.envelope(request);
        settle(self.exchange(&envelope, true)?)
    }

    /// One request and its reply on an existing daemon only; `Ok(None)` when none runs.
    pub fn call_if_running(&mut self, request: Request) -> Result<Option<Reply>, CallError> {
        let envelope = self.envelope(request);
        match self.exchange(&envelope, false) {
            Err(ClientError::NotRunning(_)) => Ok(None),
            other => settle(other?).map(Some),
        }
    }

    /// One request and its reply on an existing daemon only (a follow-up to an earlier
    /// call, which must reach the daemon that answered it, never a new one).
    pub fn call_existing(&mut self, request: Request) -> Result<Reply, CallError> {
        let envelope = self.envelope(request);
        settle(self.exchange(&envelope, false)?)
    }

    /// Send `request` again with `proof` attached (never starts a daemon: the challenge
    /// belongs to the one that asked).
    pub fn call_with_proof(
        &mut self,
        mut request: Request,
        proof: Proof,
    ) -> Result<Reply, CallError> {
        request.set_proof(proof);
        let envelope = self.envelope(request);
        settle(self.exchange(&envelope, false)?)
    }

    /// The response itself, for callers that read the reply to a run later.
    fn exchange(&mut self, envelope: &Envelope, autostart: bool) -> Result<Response, ClientError> {
        let fds = self
            .run_fds
            .filter(|_| matches!(envelope.request, Request::Run(_)));
        let client = self.client(autostart)?;
        match fds {
            Some(fds) => client.call_with_fds(envelope, &fds),
            None => client.call(envelope),
        }
    }

    /// Answer a passphrase challenge for `request`: derive the proof key from the typed
    /// passphrase, check the daemon's tag for this very challenge and digest, and tag it
    /// ourselves. Returns the proof and whether the daemon's tag matched: a process posing as
    /// the daemon cannot make it, but neither matches a mistyped passphrase, so the tag is
    /// sent either way (it opens nothing and fits no other request) and the daemon's refusal,
    /// audit and back-off apply as for any wrong answer.
    pub fn passphrase_proof(
        &self,
        request: &Request,
        challenge: &Challenge,
        asked: &PassphraseChallenge,
        passphrase: &Secret,
    ) -> Result<(Proof, bool), KdfRefused> {
        passphrase_proof(
            &self.context,
            request,
            &challenge.id,
            challenge.options.program.as_deref(),
            asked,
            passphrase,
        )
    }
}

/// [`Session::passphrase_proof`] for a surface that holds its own [`Context`] (the web UI,
/// which answers for a page that sent the typed passphrase over its loopback session): the
/// digest is computed here from `context` and `request`, never taken from the daemon.
pub fn passphrase_proof(
    context: &Context,
    request: &Request,
    challenge: &str,
    program: Option<&str>,
    asked: &PassphraseChallenge,
    passphrase: &Secret,
) -> Result<(Proof, bool), KdfRefused> {
    let digest = kovra_proto::digest::request_digest(context, request, program);
    let key =
        proof::key_from_passphrase(passphrase.expose(), &asked.kdf).map_err(|_| KdfRefused)?;
    let shown = proof::verify(
        &key,
        proof::Role::Daemon,
        challenge,
        &digest,
        &asked.daemon_tag,
    );
    let mac = hex::encode(proof::tag(&key, proof::Role::Client, challenge, &digest));
    let proof = Proof {
        challenge: challenge.to_string(),
        mac: Some(mac),
        code: None,
        passkey: None,
    };
    Ok((proof, shown))
}

/// The daemon asked for a key derivation weaker or costlier than any vault uses: whoever
/// asked is not a kovra daemon, and nothing was derived or sent.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the daemon asked for a key derivation no kovra vault uses")]
pub struct KdfRefused;
