//! One agent message in, one reply out: decoding, the crate's own checks, and the calls
//! into the [`Backend`]. No I/O here, so the fuzz target and the tests drive it directly.
//!
//! Every message that does not decode exactly (trailing bytes included), every unknown
//! message number and every unknown extension gets `SSH_AGENT_FAILURE` and leaves the
//! connection usable, as OpenSSH's agent does for requests it does not support. Requests
//! that carry key material (adding identities) are refused by their number alone, without
//! decoding their bodies; lock and unlock passphrases are read into wiped buffers rather
//! than through `ssh-agent-lib`'s `Request`, whose passphrase is a plain `String`.

use ssh_agent_lib::proto::extension::SessionBind;
use ssh_agent_lib::proto::{self, PublicCredential, Response};
use ssh_agent_lib::ssh_encoding::{Decode, Encode, Reader};
use ssh_agent_lib::ssh_key::public::KeyData;
use zeroize::Zeroizing;

use crate::backend::{Backend, Caller, Passphrase, Refusal, Rejected, SignRequest};
use crate::session::{BindError, Session};
use crate::signed::Signed;

/// Message numbers from draft-miller-ssh-agent §6.1.
mod id {
    pub const REQUEST_IDENTITIES: u8 = 11;
    pub const SIGN_REQUEST: u8 = 13;
    pub const ADD_IDENTITY: u8 = 17;
    pub const REMOVE_IDENTITY: u8 = 18;
    pub const REMOVE_ALL_IDENTITIES: u8 = 19;
    pub const ADD_SMARTCARD_KEY: u8 = 20;
    pub const REMOVE_SMARTCARD_KEY: u8 = 21;
    pub const LOCK: u8 = 22;
    pub const UNLOCK: u8 = 23;
    pub const ADD_ID_CONSTRAINED: u8 = 25;
    pub const ADD_SMARTCARD_KEY_CONSTRAINED: u8 = 26;
    pub const EXTENSION: u8 = 27;
}

/// The only extension served. `query` is not: OpenSSH 9.2's tools never send it.
pub const SESSION_BIND: &str = "session-bind@openssh.com";

/// The reply to one message (its number and body, without the length prefix).
pub fn respond<B: Backend + ?Sized>(
    backend: &B,
    caller: &Caller,
    session: &mut Session,
    message: &[u8],
) -> Vec<u8> {
    let response = match message.split_first() {
        Some((&kind, body)) => handle(backend, caller, session, kind, body),
        None => Response::Failure,
    };
    encode(&response).unwrap_or_else(|| vec![Response::Failure.message_id()])
}

fn handle<B: Backend + ?Sized>(
    backend: &B,
    caller: &Caller,
    session: &mut Session,
    kind: u8,
    body: &[u8],
) -> Response {
    match kind {
        id::REQUEST_IDENTITIES if body.is_empty() => {
            let identities = backend
                .identities(caller, session)
                .into_iter()
                .map(|i| proto::Identity {
                    credential: PublicCredential::Key(i.key),
                    comment: i.comment,
                })
                .collect();
            Response::IdentitiesAnswer(identities)
        }
        id::SIGN_REQUEST => sign(backend, caller, session, body),
        id::EXTENSION => extension(backend, caller, session, body),
        id::LOCK | id::UNLOCK => {
            let Some(passphrase) = passphrase(body) else {
                return Response::Failure;
            };
            let result = if kind == id::LOCK {
                backend.lock(caller, &passphrase)
            } else {
                backend.unlock(caller, &passphrase)
            };
            outcome(result.map(|()| Response::Success), "lock")
        }
        id::ADD_IDENTITY | id::ADD_ID_CONSTRAINED => refuse(backend, caller, Rejected::AddIdentity),
        id::REMOVE_IDENTITY => refuse(backend, caller, Rejected::RemoveIdentity),
        id::REMOVE_ALL_IDENTITIES => refuse(backend, caller, Rejected::RemoveAll),
        id::ADD_SMARTCARD_KEY | id::REMOVE_SMARTCARD_KEY | id::ADD_SMARTCARD_KEY_CONSTRAINED => {
            refuse(backend, caller, Rejected::Smartcard)
        }
        _ => {
            tracing::debug!(kind, "unsupported agent message");
            Response::Failure
        }
    }
}

fn refuse<B: Backend + ?Sized>(backend: &B, caller: &Caller, why: Rejected) -> Response {
    tracing::debug!(?why, "agent request rejected");
    backend.rejected(caller, why);
    Response::Failure
}

fn outcome(result: Result<Response, Refusal>, what: &str) -> Response {
    result.unwrap_or_else(|refusal| {
        tracing::debug!(?refusal, what, "agent request refused");
        Response::Failure
    })
}

fn sign<B: Backend + ?Sized>(
    backend: &B,
    caller: &Caller,
    session: &Session,
    mut body: &[u8],
) -> Response {
    let Ok(request) = proto::SignRequest::decode(&mut body) else {
        return Response::Failure;
    };
    if !body.is_empty() {
        return Response::Failure;
    }
    let key: &KeyData = match &request.credential {
        PublicCredential::Key(key) => key,
        PublicCredential::Cert(cert) => cert.public_key(),
    };
    let signed = Signed::of(&request.data);
    if let Err(why) = matches_bind(session, &signed) {
        tracing::debug!(
            why,
            "userauth signature does not match the connection's bind"
        );
        return refuse(backend, caller, Rejected::NotTheBoundSession);
    }
    let request = SignRequest {
        key,
        data: &request.data,
        signed,
        flags: request.flags,
    };
    outcome(
        backend
            .sign(caller, session, &request)
            .map(Response::SignResponse),
        "sign",
    )
}

/// OpenSSH's agent refuses a user authentication signature on a connection bound for
/// authentication unless it is for that very session (and, when host-bound, that very host
/// key): otherwise a client could bind to one server and sign for another.
fn matches_bind(session: &Session, signed: &Signed) -> Result<(), &'static str> {
    let (Signed::Userauth(auth), Some(last)) = (signed, session.last()) else {
        return Ok(());
    };
    if last.forwarding() {
        return Ok(());
    }
    if auth.session_id != last.session_id() {
        return Err("session identifier");
    }
    if auth.host_key.as_ref().is_some_and(|k| k != last.host_key()) {
        return Err("host key");
    }
    Ok(())
}

fn extension<B: Backend + ?Sized>(
    backend: &B,
    caller: &Caller,
    session: &mut Session,
    mut body: &[u8],
) -> Response {
    let Ok(name) = String::decode(&mut body) else {
        return Response::Failure;
    };
    if name != SESSION_BIND {
        tracing::debug!("unsupported agent extension");
        return Response::Failure;
    }
    let bound = SessionBind::decode(&mut body)
        .ok()
        .filter(|_| body.is_empty())
        .ok_or(BindError::Malformed)
        .and_then(|bind| session.bind(&bind));
    match bound {
        Ok(()) => Response::Success,
        Err(why) => refuse(backend, caller, Rejected::Bind(why)),
    }
}

/// A lock/unlock body: exactly one string, copied into a buffer wiped on drop.
fn passphrase(mut body: &[u8]) -> Option<Passphrase> {
    let len = usize::decode(&mut body).ok()?;
    if body.len() != len {
        return None;
    }
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    body.read(&mut bytes).ok()?;
    Some(Passphrase::new(bytes))
}

fn encode(response: &Response) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(response.encoded_len().ok()?);
    response.encode(&mut out).ok()?;
    Some(out)
}
