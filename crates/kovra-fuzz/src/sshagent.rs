//! `kovra_sshagent`: a connection's bytes read as agent frames and answered, the way the
//! agent's connection thread does, with one session carried across the frames.

use kovra_sshagent::ssh_agent_lib::proto::Response;
use kovra_sshagent::ssh_agent_lib::ssh_encoding::{Decode, Encode};
use kovra_sshagent::ssh_key::public::{Ed25519PublicKey, KeyData};
use kovra_sshagent::ssh_key::{Algorithm, Signature};
use kovra_sshagent::{
    Backend, Caller, FrameError, Identity, MAX_BINDS, MAX_FRAME, Refusal, Session, SignRequest,
    read_frame, respond,
};

/// Lists one fixed key and "signs" any request for it with a fixed signature, so the reply
/// encoder runs on every kind of answer; refuses anything else.
struct FuzzBackend {
    key: KeyData,
}

impl Backend for FuzzBackend {
    fn identities(&self, _caller: &Caller, _session: &Session) -> Vec<Identity> {
        vec![Identity {
            key: self.key.clone(),
            comment: "fuzz".into(),
        }]
    }

    fn sign(
        &self,
        _caller: &Caller,
        _session: &Session,
        request: &SignRequest<'_>,
    ) -> Result<Signature, Refusal> {
        if *request.key != self.key {
            return Err(Refusal::UnknownKey);
        }
        Signature::new(Algorithm::Ed25519, vec![0x5a; 64]).map_err(|_| Refusal::Unavailable)
    }
}

const FAILURE: u8 = 5;
/// Message numbers the agent answers with something other than a plain failure.
const SERVED: &[u8] = &[11, 13, 22, 23, 27];

/// Up to 8 frames from one stream. A declared length over the cap, and only that, is
/// `TooLarge`; every reply is a response that decodes exactly and re-encodes to the same
/// bytes; an unknown message number gets exactly `SSH_AGENT_FAILURE`; a connection never
/// holds more than `MAX_BINDS` binds.
pub fn sshagent_request(data: &[u8]) {
    let backend = FuzzBackend {
        key: KeyData::Ed25519(Ed25519PublicKey([7; 32])),
    };
    let caller = Caller {
        pid: 1,
        uid: 1000,
        gid: 1000,
        exe: None,
    };
    let mut session = Session::new();
    let mut stream = data;
    for _ in 0..8 {
        let declared = stream
            .get(..4)
            .and_then(|h| <[u8; 4]>::try_from(h).ok())
            .map(|h| u32::from_be_bytes(h) as usize);
        let message = match read_frame(&mut stream, MAX_FRAME, || {}) {
            Ok(message) => message,
            Err(FrameError::TooLarge(len)) => {
                assert!(len as usize > MAX_FRAME);
                assert_eq!(declared, Some(len as usize));
                return;
            }
            Err(_) => {
                assert!(declared.is_none_or(|d| d <= MAX_FRAME));
                return;
            }
        };
        assert!(declared.is_some_and(|d| d == message.len() && d <= MAX_FRAME));
        let reply = respond(&backend, &caller, &mut session, &message);
        let mut rest = reply.as_slice();
        let decoded = Response::decode(&mut rest);
        assert!(decoded.is_ok(), "a reply decodes as a response");
        assert!(rest.is_empty(), "a reply is exactly one response");
        let Ok(decoded) = decoded else { return };
        let mut again = Vec::new();
        assert!(decoded.encode(&mut again).is_ok());
        assert_eq!(again, reply, "a reply re-encodes to itself");
        if message.first().is_none_or(|kind| !SERVED.contains(kind)) {
            assert_eq!(reply, [FAILURE], "an unserved message gets a plain failure");
        }
        assert!(session.binds().len() <= MAX_BINDS);
    }
}
