//! Proofs of presence that never carry the passphrase. The client derives a proof key from
//! the typed passphrase exactly as the vault derives its key-encryption key (Argon2id with
//! the vault's salt and cost), and answers a challenge with a MAC over that one challenge
//! and request digest. The daemon, which derived the same key when it was unlocked, first
//! shows it knows the key too (`Role::Daemon`), so a process standing in for the daemon is
//! caught before the client answers; what a relay sees opens nothing and proves nothing
//! for any other request.

use serde::{Deserialize, Serialize};

use crate::crypto::{self, KdfError, KdfParams, Key};

/// What a `Verify` tag is bound to besides the client's nonce: no request, so no digest.
pub const VERIFY_DIGEST: [u8; 32] = *b"kovra-verify-daemon-holds-key-v1";

/// Who computes a tag: the two sides' tags differ, so one cannot be replayed as the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Daemon,
    Client,
}

/// What a client needs to derive the proof key: public, it comes with each challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofKdf {
    /// The vault's Argon2id salt, hex.
    pub salt: String,
    pub kdf: KdfParams,
}

/// The weakest cost a client accepts: a process posing as the daemon must not talk it into
/// a cheap derivation whose tags are quick to guess offline.
pub const MIN_KDF: KdfParams = KdfParams {
    m_kib: 64 * 1024,
    t: 3,
    p: 1,
};
/// And the highest, so that it cannot make the client spend minutes or gigabytes.
pub const MAX_KDF: KdfParams = KdfParams {
    m_kib: 1024 * 1024,
    t: 16,
    p: 8,
};

/// The proof key from an already derived key-encryption key (the daemon's side).
pub fn key_from_kek(kek: &Key) -> Key {
    crypto::subkey(kek, "proof-of-presence")
}

/// The proof key from a typed passphrase (the client's side). Refuses costs outside
/// `MIN_KDF..=MAX_KDF`.
pub fn key_from_passphrase(passphrase: &[u8], kdf: &ProofKdf) -> Result<Key, KdfError> {
    let p = kdf.kdf;
    let within = p.m_kib >= MIN_KDF.m_kib
        && p.t >= MIN_KDF.t
        && p.p >= MIN_KDF.p
        && p.m_kib <= MAX_KDF.m_kib
        && p.t <= MAX_KDF.t
        && p.p <= MAX_KDF.p;
    if !within {
        return Err(KdfError);
    }
    let salt = hex::decode(&kdf.salt).map_err(|_| KdfError)?;
    let kek = crypto::derive_kek(passphrase, &salt, p)?;
    Ok(key_from_kek(&kek))
}

/// The tag one side computes over a challenge and the request digest.
pub fn tag(key: &Key, role: Role, challenge: &str, digest: &[u8; 32]) -> [u8; 32] {
    let role: &[u8] = match role {
        Role::Daemon => b"daemon",
        Role::Client => b"client",
    };
    crypto::mac(
        key.as_ref(),
        &[b"kovra-proof-v1", role, challenge.as_bytes(), digest],
    )
}

/// Constant-time check of a hex tag.
pub fn verify(key: &Key, role: Role, challenge: &str, digest: &[u8; 32], hex_tag: &str) -> bool {
    match hex::decode(hex_tag) {
        Ok(given) => crypto::mac_eq(&given, &tag(key, role, challenge, digest)),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_bind_role_challenge_and_digest() {
        let key = crypto::random_key();
        let t = hex::encode(tag(&key, Role::Client, "c1", &[1; 32]));
        assert!(verify(&key, Role::Client, "c1", &[1; 32], &t));
        assert!(!verify(&key, Role::Daemon, "c1", &[1; 32], &t));
        assert!(!verify(&key, Role::Client, "c2", &[1; 32], &t));
        assert!(!verify(&key, Role::Client, "c1", &[2; 32], &t));
        assert!(!verify(
            &crypto::random_key(),
            Role::Client,
            "c1",
            &[1; 32],
            &t
        ));
        assert!(!verify(&key, Role::Client, "c1", &[1; 32], "zz"));
    }

    #[test]
    fn weak_costs_are_refused() {
        let weak = ProofKdf {
            salt: "00".repeat(16),
            kdf: KdfParams {
                m_kib: 8,
                t: 1,
                p: 1,
            },
        };
        assert!(key_from_passphrase(b"pw", &weak).is_err());
    }
}
