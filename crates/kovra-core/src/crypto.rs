//! The primitives: XChaCha20-Poly1305 sealing, Argon2id key wrapping, HMAC-SHA256 for keyed
//! lookups, subkeys and chains. Every key is a zeroizing 32-byte buffer.

use argon2::{Algorithm, Argon2, Params, Version};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub const KEY_LEN: usize = 32;
pub const NONCE_LEN: usize = 24;

/// A 256-bit key: wiped when dropped, redacted in `Debug`, compared in constant time.
#[derive(Clone)]
pub struct Key(Zeroizing<[u8; KEY_LEN]>);

impl Key {
    pub fn from_array(bytes: [u8; KEY_LEN]) -> Self {
        Key(Zeroizing::new(bytes))
    }

    /// The key's bytes, for a cipher or a MAC.
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        crate::secret::ct_eq(self.as_ref(), other.as_ref())
    }
}

impl Eq for Key {}

/// Every AEAD or MAC failure collapses into this one error: callers learn *that* it
/// failed, never how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("authentication failed")]
pub struct AuthError;

/// Fill a buffer from the OS CSPRNG. The OS generator failing is not recoverable.
pub fn fill_random(buf: &mut [u8]) {
    #[allow(clippy::expect_used)]
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}

pub fn random_key() -> Key {
    let mut key = Key::from_array([0u8; KEY_LEN]);
    fill_random(key.0.as_mut());
    key
}

pub fn random_array<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    fill_random(&mut out);
    out
}

/// Seal `plaintext` under `key`, binding `aad`. Output: nonce ‖ ciphertext ‖ tag.
pub fn seal(key: &Key, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    seal_with_nonce(key, &random_array(), aad, plaintext)
}

/// [`seal`] with a given nonce. Only for the store's format, whose test vectors fix the
/// nonce; every real seal draws a fresh random one.
pub(crate) fn seal_with_nonce(
    key: &Key,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    crate::xchacha::seal(key, nonce, aad, plaintext)
}

/// Open what [`seal`] produced with the same key and AAD.
pub fn open(key: &Key, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, AuthError> {
    let mut plain = Zeroizing::new(Vec::with_capacity(sealed.len()));
    if crate::xchacha::open_into(key, aad, sealed, &mut plain) {
        Ok(plain)
    } else {
        Err(AuthError)
    }
}

/// HMAC-SHA256 over length-prefixed parts, so `("ab","c")` and `("a","bc")` differ.
pub fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    #[allow(clippy::expect_used)]
    let mut m =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        m.update(&(part.len() as u64).to_be_bytes());
        m.update(part);
    }
    m.finalize().into_bytes().into()
}

/// An HMAC-SHA256 keyed once. Each [`KeyedMac::mac`] starts from a copy of the keyed state,
/// so a long chain (the audit trail's 100,000 links) does not hash the key again per link.
/// Gives the same tags as [`mac`].
#[derive(Clone)]
pub struct KeyedMac(Hmac<Sha256>);

impl KeyedMac {
    pub fn new(key: &Key) -> Self {
        #[allow(clippy::expect_used)]
        KeyedMac(
            <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_ref())
                .expect("HMAC takes keys of any length"),
        )
    }

    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut m = self.0.clone();
        for part in parts {
            m.update(&(part.len() as u64).to_be_bytes());
            m.update(part);
        }
        m.finalize().into_bytes().into()
    }
}

pub use crate::opencheck::OpenCheck;

/// Constant-time comparison of a MAC.
pub fn mac_eq(a: &[u8], b: &[u8]) -> bool {
    crate::secret::ct_eq(a, b)
}

/// A subkey for one purpose, derived from the root key so purposes never share a key.
pub fn subkey(root: &Key, purpose: &str) -> Key {
    Key::from_array(mac(
        root.as_ref(),
        &[b"kovra-subkey-v1", purpose.as_bytes()],
    ))
}

pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// Argon2id cost parameters, stored beside the wrapped key so they can be raised later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

impl Default for KdfParams {
    /// 64 MiB, three passes, one lane: RFC 9106's second recommended option.
    fn default() -> Self {
        KdfParams {
            m_kib: 64 * 1024,
            t: 3,
            p: 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid key-derivation parameters")]
pub struct KdfError;

/// Derive the key-encryption key from a passphrase.
pub fn derive_kek(passphrase: &[u8], salt: &[u8], params: KdfParams) -> Result<Key, KdfError> {
    let p = Params::new(params.m_kib, params.t, params.p, Some(KEY_LEN)).map_err(|_| KdfError)?;
    let mut out = Key::from_array([0u8; KEY_LEN]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, p)
        .hash_password_into(passphrase, salt, out.0.as_mut())
        .map_err(|_| KdfError)?;
    Ok(out)
}

/// Turn opened bytes back into a key, refusing any other length.
pub fn key_from_slice(bytes: &[u8]) -> Result<Key, AuthError> {
    let arr: [u8; KEY_LEN] = bytes.try_into().map_err(|_| AuthError)?;
    Ok(Key::from_array(arr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_and_tamper() {
        let key = random_key();
        let sealed = seal(&key, b"aad", b"hello");
        assert_eq!(open(&key, b"aad", &sealed).unwrap().as_slice(), b"hello");
        assert_eq!(open(&key, b"other", &sealed), Err(AuthError));
        let mut flipped = sealed.clone();
        flipped[30] ^= 1;
        assert_eq!(open(&key, b"aad", &flipped), Err(AuthError));
        assert_eq!(open(&random_key(), b"aad", &sealed), Err(AuthError));
        assert_eq!(open(&key, b"aad", &sealed[..10]), Err(AuthError));
    }

    /// A keyed MAC state is as good as its key: the store keeps one while unlocked
    /// (`KeyedMac`), and every short-lived one took in a key or a value. Both must be wiped
    /// when dropped, which the `zeroize` features of `hmac` and `sha2` provide (Cargo.toml).
    #[test]
    fn mac_and_hash_states_wipe_themselves() {
        use hmac::digest::block_api::{Buffer, CoreProxy};
        fn wiped<T: zeroize::ZeroizeOnDrop>() {}
        // An HMAC state is two SHA-256 cores (inner and outer) and a block buffer.
        type Core = <Sha256 as CoreProxy>::Core;
        wiped::<Core>();
        wiped::<Buffer<Core>>();
        wiped::<Sha256>();
        let keyed = KeyedMac::new(&random_key());
        assert_eq!(keyed.mac(&[b"a"]), keyed.clone().mac(&[b"a"]));
    }

    #[test]
    fn mac_parts_are_framed() {
        assert_ne!(mac(b"k", &[b"ab", b"c"]), mac(b"k", &[b"a", b"bc"]));
    }
}
