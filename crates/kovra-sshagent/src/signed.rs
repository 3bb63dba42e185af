//! What a client asks the agent to sign, recognised from the bytes themselves.
//!
//! An agent signs opaque data, but two shapes matter to policy and are unambiguous: an SSH
//! user authentication request (RFC 4252 §7, and OpenSSH's host-bound variant that also
//! carries the server's host key), and an `SSHSIG` blob (`ssh-keygen -Y sign`, git commit
//! signing) with its namespace. Recognising the first also lets the crate check it against
//! the connection's binds the way OpenSSH's agent does ([`crate::dispatch`]).

use ssh_agent_lib::ssh_encoding::{Decode, Reader};
use ssh_agent_lib::ssh_key::public::KeyData;

/// `SSH_MSG_USERAUTH_REQUEST`.
const USERAUTH_REQUEST: u8 = 50;
/// OpenSSH's method name for public-key authentication that also names the server's key.
const HOSTBOUND: &str = "publickey-hostbound-v00@openssh.com";
/// The 6-byte preamble of an SSHSIG signed blob (OpenSSH PROTOCOL.sshsig).
const SSHSIG_MAGIC: &[u8] = b"SSHSIG";

/// What the bytes to be signed are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signed {
    /// A public-key user authentication to an SSH server.
    Userauth(Box<Userauth>),
    /// A file or commit signature (`ssh-keygen -Y sign`): the namespace the signer chose
    /// (`file`, `git`, …) and the hash algorithm of the message.
    Sshsig { namespace: String, hash: String },
    /// Anything else.
    Other,
}

/// The facts of a user authentication request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Userauth {
    /// The session the signature authenticates; must be the connection's last bind when it
    /// is bound.
    pub session_id: Vec<u8>,
    /// The remote user name.
    pub user: String,
    /// The key the client authenticates with, as it named it in the request.
    pub key: KeyData,
    /// The server's host key, in OpenSSH's host-bound variant.
    pub host_key: Option<KeyData>,
}

impl Signed {
    /// Recognises `data`; anything that is not exactly one of the known shapes is `Other`.
    pub fn of(data: &[u8]) -> Self {
        if let Some(sig) = data.strip_prefix(SSHSIG_MAGIC).and_then(sshsig) {
            return sig;
        }
        userauth(data).map_or(Self::Other, |u| Self::Userauth(Box::new(u)))
    }
}

fn sshsig(mut reader: &[u8]) -> Option<Signed> {
    let namespace = String::decode(&mut reader).ok()?;
    let _reserved = Vec::<u8>::decode(&mut reader).ok()?;
    let hash = String::decode(&mut reader).ok()?;
    let _digest = Vec::<u8>::decode(&mut reader).ok()?;
    reader
        .is_finished()
        .then_some(Signed::Sshsig { namespace, hash })
}

fn userauth(mut reader: &[u8]) -> Option<Userauth> {
    let session_id = Vec::<u8>::decode(&mut reader).ok()?;
    if u8::decode(&mut reader).ok()? != USERAUTH_REQUEST {
        return None;
    }
    let user = String::decode(&mut reader).ok()?;
    let _service = String::decode(&mut reader).ok()?;
    let method = String::decode(&mut reader).ok()?;
    let hostbound = match method.as_str() {
        "publickey" => false,
        HOSTBOUND => true,
        _ => return None,
    };
    // The "has signature" boolean is always true in a request being signed.
    if u8::decode(&mut reader).ok()? != 1 {
        return None;
    }
    let _algorithm = String::decode(&mut reader).ok()?;
    let key = reader.read_prefixed(KeyData::decode).ok()?;
    let host_key = if hostbound {
        Some(reader.read_prefixed(KeyData::decode).ok()?)
    } else {
        None
    };
    reader.is_finished().then_some(Userauth {
        session_id,
        user,
        key,
        host_key,
    })
}

#[cfg(test)]
mod tests {
    use ssh_agent_lib::ssh_encoding::Encode;
    use ssh_agent_lib::ssh_key::public::Ed25519PublicKey;

    use super::*;

    fn userauth_bytes(method: &str, has_sig: u8, extra: &[u8]) -> Vec<u8> {
        let key = KeyData::Ed25519(Ed25519PublicKey([3; 32]));
        let mut out = Vec::new();
        vec![1u8; 32].encode(&mut out).unwrap();
        USERAUTH_REQUEST.encode(&mut out).unwrap();
        "bob".encode(&mut out).unwrap();
        "ssh-connection".encode(&mut out).unwrap();
        method.encode(&mut out).unwrap();
        has_sig.encode(&mut out).unwrap();
        "ssh-ed25519".encode(&mut out).unwrap();
        key.encode_prefixed(&mut out).unwrap();
        out.extend_from_slice(extra);
        out
    }

    #[test]
    fn a_plain_publickey_request_is_userauth_without_a_host_key() {
        let Signed::Userauth(auth) = Signed::of(&userauth_bytes("publickey", 1, &[])) else {
            panic!("not recognised");
        };
        assert_eq!(auth.user, "bob");
        assert_eq!(auth.session_id, vec![1u8; 32]);
        assert!(auth.host_key.is_none());
    }

    #[test]
    fn near_misses_are_other() {
        for data in [
            userauth_bytes("publickey", 0, &[]),
            userauth_bytes("password", 1, &[]),
            userauth_bytes("publickey", 1, &[0]),
            // Host-bound but without the host key.
            userauth_bytes(HOSTBOUND, 1, &[]),
            b"SSHSIG".to_vec(),
            Vec::new(),
        ] {
            assert_eq!(Signed::of(&data), Signed::Other, "{data:?}");
        }
    }

    #[test]
    fn an_sshsig_blob_names_its_namespace() {
        let mut data = SSHSIG_MAGIC.to_vec();
        "git".encode(&mut data).unwrap();
        Vec::<u8>::new().encode(&mut data).unwrap();
        "sha512".encode(&mut data).unwrap();
        vec![9u8; 64].encode(&mut data).unwrap();
        assert_eq!(
            Signed::of(&data),
            Signed::Sshsig {
                namespace: "git".into(),
                hash: "sha512".into()
            }
        );
    }
}
