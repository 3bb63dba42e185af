//! The server's host key as the daemon stores and shows it, and the russh callback that
//! checks it against the pins during the key exchange — the only place a connection is
//! allowed to go on towards authentication.

use std::sync::{Arc, Mutex};

use russh::keys::{HashAlg, PublicKey, PublicKeyOrCertificate};

/// A server's host key: what `scan` returns for pinning and `HostKeyChanged` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    /// The key's type as OpenSSH names it: `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, …
    /// (`ssh-rsa` is the RSA key format; the server still signed with rsa-sha2-512/256.)
    pub algorithm: String,
    /// `SHA256:` and unpadded base64, exactly as `ssh-keygen -l` prints it: the pin.
    pub fingerprint: String,
    /// The OpenSSH public key line (`ALGORITHM BASE64`, no comment), for a `known_hosts`
    /// entry or an out-of-band comparison.
    pub openssh: String,
}

impl HostKey {
    fn of(key: &PublicKey) -> HostKey {
        // A server's host key carries no comment on the wire; clear it anyway so the line is
        // exactly the key.
        let mut key = key.clone();
        key.set_comment("");
        HostKey {
            algorithm: key.algorithm().as_str().to_string(),
            fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
            openssh: key.to_openssh().unwrap_or_default(),
        }
    }
}

/// russh's client callbacks: only the host key check is ours. It records the key the server
/// presented (russh calls this after verifying the server's signature over the exchange, so
/// the server holds that key) and accepts it only when its fingerprint is pinned. Returning
/// `false` makes russh drop the connection before any authentication request is sent.
///
/// A host certificate is refused and not recorded: the client never advertises certificate
/// algorithms (`Preferred::host_key_certificates` stays empty), so a server sending one is
/// off-protocol, and a pin is a key's fingerprint, not an authority's.
pub(crate) struct PinCheck {
    pinned: Vec<String>,
    seen: Arc<Mutex<Option<HostKey>>>,
}

impl PinCheck {
    /// A check against `pinned`, and where the presented key will be recorded. An empty
    /// `pinned` refuses every host: that is `scan`, which wants the key and nothing more.
    pub(crate) fn new(pinned: &[String]) -> (PinCheck, Arc<Mutex<Option<HostKey>>>) {
        let seen = Arc::new(Mutex::new(None));
        let check = PinCheck {
            pinned: pinned.iter().map(|p| p.trim().to_string()).collect(),
            seen: Arc::clone(&seen),
        };
        (check, seen)
    }
}

impl russh::client::Handler for PinCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        presented: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = presented else {
            return Ok(false);
        };
        let seen = HostKey::of(key);
        let pinned = self.pinned.contains(&seen.fingerprint);
        if let Ok(mut slot) = self.seen.lock() {
            *slot = Some(seen);
        }
        Ok(pinned)
    }
}

/// What the pin check recorded, if the exchange got that far.
pub(crate) fn recorded(seen: &Mutex<Option<HostKey>>) -> Option<HostKey> {
    seen.lock().ok().and_then(|mut s| s.take())
}
