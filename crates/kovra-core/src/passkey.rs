//! Passkeys (WebAuthn) as a proof of presence: the challenge an assertion must sign. It is
//! derived, not random, so that an assertion answers exactly one daemon challenge (its
//! random id, single use) of exactly one request (its digest, `docs/protocol.md` §7).

use sha2::{Digest, Sha256};

/// Domain separation: a passkey challenge can never equal any other hash kovra computes.
const LABEL: &[u8] = b"kovra-passkey-v1";

/// The WebAuthn challenge for daemon challenge `challenge_id` of the request whose digest
/// is `digest`: SHA-256 over the length-framed label, id and digest (each part preceded by
/// its length as a big-endian u64, so no two inputs frame alike).
pub fn challenge(challenge_id: &str, digest: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [LABEL, challenge_id.as_bytes(), digest.as_slice()] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_to_challenge_id_and_digest() {
        let a = challenge("00112233", &[1; 32]);
        assert_eq!(a, challenge("00112233", &[1; 32]), "deterministic");
        assert_ne!(a, challenge("00112234", &[1; 32]), "another challenge id");
        assert_ne!(a, challenge("00112233", &[2; 32]), "another request");
        // The framing is what it says: label, id and digest, each after its length.
        let mut framed = Vec::new();
        for part in [&b"kovra-passkey-v1"[..], b"00112233", &[1; 32]] {
            framed.extend_from_slice(&(part.len() as u64).to_be_bytes());
            framed.extend_from_slice(part);
        }
        assert_eq!(a, <[u8; 32]>::from(Sha256::digest(&framed)));
    }
}
