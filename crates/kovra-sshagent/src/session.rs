//! The SSH sessions a client bound its agent connection to (`session-bind@openssh.com`).
//!
//! Since OpenSSH 8.9, `ssh` tells its agent, before asking for keys, which server it is
//! talking to: the server's host key, the session identifier (the key exchange's hash) and
//! the server's signature over that identifier, plus whether the connection is being
//! forwarded to that server. Verifying the signature proves the client really holds a
//! session with the owner of that host key, which is what lets the daemon allow a key only
//! toward one host. A [`Bind`] exists only once its signature verified: the fields are
//! private and the only constructor is [`Session::bind`].

use std::cell::RefCell;
use std::collections::BTreeSet;

use ssh_agent_lib::proto::extension::SessionBind;
use ssh_agent_lib::ssh_key::public::KeyData;

/// OpenSSH's own agent keeps at most this many binds per connection; a client that sends
/// more is misbehaving, and the list must not grow without bound.
pub const MAX_BINDS: usize = 16;

/// A verified bind: this connection speaks for a session with the holder of `host_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    host_key: KeyData,
    session_id: Vec<u8>,
    forwarding: bool,
}

impl Bind {
    /// The server's host key, whose signature over the session identifier verified.
    pub fn host_key(&self) -> &KeyData {
        &self.host_key
    }

    /// The key exchange hash of that session.
    pub fn session_id(&self) -> &[u8] {
        &self.session_id
    }

    /// Whether the client is forwarding this agent to that server (`ssh -A`), rather than
    /// authenticating to it.
    pub fn forwarding(&self) -> bool {
        self.forwarding
    }
}

/// Why a bind was refused (the client sees `SSH_AGENT_FAILURE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    #[error("the bind message does not decode")]
    Malformed,
    #[error("the host key's signature over the session identifier does not verify")]
    BadSignature,
    #[error("the session identifier is already bound to a different host key")]
    Rebound,
    #[error("the connection is bound for authentication and cannot be bound again")]
    AlreadyAuthenticating,
    #[error("too many binds on one connection")]
    TooMany,
}

/// The most notes a backend keeps on one connection ([`Session::remember`]).
pub const MAX_NOTES: usize = 64;

/// Everything one agent connection has been bound to, oldest first, and what the backend
/// asked it to remember.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    binds: Vec<Bind>,
    /// The backend's notes about this connection (kovra: the key and server a human
    /// approved a signature for), kept for the connection's life only, in memory. A cell:
    /// the backend sees the session shared, and the connection is served by one thread.
    notes: RefCell<BTreeSet<String>>,
}

impl Session {
    pub fn new() -> Self {
        Self::default()
    }

    /// The verified binds, oldest first. Empty for clients that do not bind (`ssh-add`,
    /// `ssh-keygen -Y sign`, `git`), or older than OpenSSH 8.9.
    pub fn binds(&self) -> &[Bind] {
        &self.binds
    }

    /// The most recent bind: the session a userauth signature is for.
    pub fn last(&self) -> Option<&Bind> {
        self.binds.last()
    }

    /// Remember `note` for the rest of this connection (at most [`MAX_NOTES`]; `false`
    /// when full). Notes carry no key material: they are the backend's to choose.
    pub fn remember(&self, note: String) -> bool {
        let mut notes = self.notes.borrow_mut();
        if notes.len() >= MAX_NOTES && !notes.contains(&note) {
            return false;
        }
        notes.insert(note);
        true
    }

    /// Whether this connection remembers `note`.
    pub fn remembers(&self, note: &str) -> bool {
        self.notes.borrow().contains(note)
    }

    /// Whether any hop of this connection is a forwarded agent: the request may come from
    /// a remote machine rather than from the client that connected.
    pub fn forwarded(&self) -> bool {
        self.binds.iter().any(|b| b.forwarding)
    }

    /// Records a bind after verifying it, with the rules OpenSSH's agent applies: a
    /// connection bound for authentication (not forwarding) stays bound to that session; the
    /// same session identifier may be repeated only with the same host key (and is then
    /// recorded once); at most [`MAX_BINDS`].
    pub fn bind(&mut self, message: &SessionBind) -> Result<(), BindError> {
        message
            .verify_signature()
            .map_err(|_| BindError::BadSignature)?;
        if let Some(same) = self
            .binds
            .iter()
            .find(|b| b.session_id == message.session_id)
        {
            return if same.host_key == message.host_key {
                Ok(())
            } else {
                Err(BindError::Rebound)
            };
        }
        if self.binds.last().is_some_and(|b| !b.forwarding) {
            return Err(BindError::AlreadyAuthenticating);
        }
        if self.binds.len() >= MAX_BINDS {
            return Err(BindError::TooMany);
        }
        self.binds.push(Bind {
            host_key: message.host_key.clone(),
            session_id: message.session_id.clone(),
            forwarding: message.is_forwarding,
        });
        Ok(())
    }
}
