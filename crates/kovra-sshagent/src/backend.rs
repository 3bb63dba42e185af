//! What the agent asks of its host: the [`Backend`] trait and the facts it is handed.
//!
//! The crate never holds a private key and never decides whether a signature is allowed:
//! the daemon does both behind this trait. What the crate contributes are facts it can
//! establish better than the daemon could from the outside: who connected ([`Caller`], from
//! the kernel), which SSH sessions the client bound this connection to ([`Session`], each
//! bind's host-key signature verified), and what the bytes to be signed are ([`Signed`]).

use std::fmt;
use std::path::PathBuf;

use ssh_agent_lib::ssh_key::Signature;
use ssh_agent_lib::ssh_key::public::KeyData;
use zeroize::Zeroizing;

use crate::session::{BindError, Session};
use crate::signed::Signed;

/// The daemon's side of the agent: lists keys, signs, and is told of refused requests.
///
/// Every method is called on the connection's own thread, so a slow decision (a prompt for
/// presence) holds up that connection only. Implementations must not print the data they
/// are asked to sign or a passphrase they are handed.
pub trait Backend: Send + Sync {
    /// The keys this caller may see on this connection, in the order `ssh` should try
    /// them. OpenSSH binds the connection before it asks, so `session` already names the
    /// host the client is talking to.
    fn identities(&self, caller: &Caller, session: &Session) -> Vec<Identity>;

    /// Sign `request.data` with the private key of `request.key`. Policy belongs here:
    /// the daemon weighs the caller, the session's verified binds and what is being signed.
    fn sign(
        &self,
        caller: &Caller,
        session: &Session,
        request: &SignRequest<'_>,
    ) -> Result<Signature, Refusal>;

    /// A request the crate refused on its own, before any policy: one kovra never grants
    /// through this socket (adding or removing keys, smartcards; refused by message number,
    /// so key material a client sent is never decoded), a session bind that did not verify,
    /// or a login signature for a session other than the one the connection is bound to.
    /// Told so the daemon can audit it: the last two are what a forgery looks like.
    fn rejected(&self, caller: &Caller, why: Rejected) {
        let _ = (caller, why);
    }

    /// `ssh-add -x`. Refused unless the daemon chooses to map it onto its own lock.
    fn lock(&self, caller: &Caller, passphrase: &Passphrase) -> Result<(), Refusal> {
        let _ = (caller, passphrase);
        Err(Refusal::Unsupported)
    }

    /// `ssh-add -X`. Refused unless the daemon chooses to map it onto its own unlock.
    fn unlock(&self, caller: &Caller, passphrase: &Passphrase) -> Result<(), Refusal> {
        let _ = (caller, passphrase);
        Err(Refusal::Unsupported)
    }
}

/// Who is on the other end of the connection, as the kernel said when it was accepted.
///
/// The pid is the connecting process's at `connect` time; `exe` is read from `/proc` right
/// after accepting and is `None` when the process is already gone (best effort, for the
/// audit trail and for policies keyed on the program).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
    pub exe: Option<PathBuf>,
}

/// A key the agent lists: its public half and the comment `ssh-add -l` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub key: KeyData,
    pub comment: String,
}

/// One signature request, decoded and checked against the connection's binds.
#[derive(Debug)]
pub struct SignRequest<'a> {
    /// The public key whose private half should sign (a certificate's key when the client
    /// named a certificate).
    pub key: &'a KeyData,
    /// The bytes to sign, exactly as the client sent them.
    pub data: &'a [u8],
    /// What `data` is: an SSH user authentication, an `ssh-keygen -Y` file signature, or
    /// something else.
    pub signed: Signed,
    /// `SSH_AGENT_RSA_SHA2_256` (2) and `SSH_AGENT_RSA_SHA2_512` (4) choose the RSA hash;
    /// other bits are passed through as sent.
    pub flags: u32,
}

/// Why a request was not granted. The client only ever sees `SSH_AGENT_FAILURE`; the reason
/// is for the daemon's audit trail and the crate's debug log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The agent holds no such key (for this caller).
    UnknownKey,
    /// Policy said no.
    Denied,
    /// The vault is locked, or the key could not be used right now.
    Unavailable,
    /// The operation is not offered through this socket.
    Unsupported,
}

/// What the crate refused by itself, named for the daemon's audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejected {
    /// `SSH_AGENTC_ADD_IDENTITY` / `ADD_ID_CONSTRAINED` (`ssh-add KEY`).
    AddIdentity,
    /// `SSH_AGENTC_REMOVE_IDENTITY` (`ssh-add -d`).
    RemoveIdentity,
    /// `SSH_AGENTC_REMOVE_ALL_IDENTITIES` (`ssh-add -D`).
    RemoveAll,
    /// Smartcard add/remove (`ssh-add -s`/`-e`).
    Smartcard,
    /// A `session-bind@openssh.com` that did not decode, did not verify, or broke the
    /// binding rules ([`Session::bind`]).
    Bind(BindError),
    /// A user authentication signature on a connection bound for authentication, for
    /// another session identifier or naming another host key than the bind's.
    NotTheBoundSession,
}

/// A lock or unlock passphrase: wiped when dropped, never printed.
pub struct Passphrase(Zeroizing<Vec<u8>>);

impl Passphrase {
    pub(crate) fn new(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(bytes)
    }

    /// The passphrase's bytes, for the one comparison the daemon makes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase([redacted])")
    }
}
