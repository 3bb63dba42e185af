//! Opening values that dotenvx sealed (`NAME=encrypted:BASE64`), for `kovra import
//! --from-dotenvx`. No I/O: the daemon holds the private key only while it imports.
//!
//! dotenvx seals each value with eciesjs's defaults: a fresh secp256k1 key pair; the AES-256
//! key is HKDF-SHA256 (no salt, no info) over the ephemeral public key and the shared point,
//! both uncompressed (65 bytes each); AES-256-GCM with a 16-byte nonce. The sealed value is
//! `ephemeral public key (65) || nonce (16) || tag (16) || ciphertext`, in standard base64.

use aes_gcm::aead::consts::U16;
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine;
use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::{PublicKey, SecretKey};
use zeroize::Zeroizing;

/// What marks a sealed value.
pub const PREFIX: &str = "encrypted:";

const POINT: usize = 65;
const NONCE: usize = 16;
const TAG: usize = 16;

/// Why a key or a value could not be used; never the key or the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DotenvxError {
    #[error("the dotenvx private key is not 64 hexadecimal digits of a secp256k1 key")]
    KeyInvalid,
    #[error("the sealed value is not dotenvx's format (base64 of a key, nonce, tag and text)")]
    Malformed,
    #[error("the value does not open with this private key (another file's key?)")]
    WrongKey,
}

/// A dotenvx private key (`DOTENV_PRIVATE_KEY`).
pub struct PrivateKey(SecretKey);

impl PrivateKey {
    pub fn from_hex(text: &str) -> Result<PrivateKey, DotenvxError> {
        let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|_| DotenvxError::KeyInvalid)?);
        SecretKey::from_slice(&bytes)
            .map(PrivateKey)
            .map_err(|_| DotenvxError::KeyInvalid)
    }

    /// The compressed public key in hex, as dotenvx writes `DOTENV_PUBLIC_KEY`.
    pub fn public_hex(&self) -> String {
        hex::encode(self.0.public_key().to_encoded_point(true).as_bytes())
    }

    /// Open one value (with or without its `encrypted:` prefix).
    pub fn open(&self, sealed: &str) -> Result<Zeroizing<Vec<u8>>, DotenvxError> {
        let b64 = sealed.strip_prefix(PREFIX).unwrap_or(sealed);
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| DotenvxError::Malformed)?;
        if raw.len() < POINT + NONCE + TAG {
            return Err(DotenvxError::Malformed);
        }
        let (ephemeral, rest) = raw.split_at(POINT);
        let (nonce, rest) = rest.split_at(NONCE);
        let (tag, text) = rest.split_at(TAG);
        let ephemeral =
            PublicKey::from_sec1_bytes(ephemeral).map_err(|_| DotenvxError::Malformed)?;
        let shared = (ephemeral.to_projective() * *self.0.to_nonzero_scalar())
            .to_affine()
            .to_encoded_point(false);
        let mut ikm = Zeroizing::new(Vec::with_capacity(2 * POINT));
        ikm.extend_from_slice(ephemeral.to_encoded_point(false).as_bytes());
        ikm.extend_from_slice(shared.as_bytes());
        let mut key = Zeroizing::new([0u8; 32]);
        hkdf::Hkdf::<sha2::Sha256>::new(None, &ikm)
            .expand(&[], key.as_mut())
            .map_err(|_| DotenvxError::Malformed)?;
        let cipher = AesGcm::<Aes256, U16>::new_from_slice(key.as_ref())
            .map_err(|_| DotenvxError::Malformed)?;
        // The AEAD takes the text followed by its tag.
        let mut joined = Vec::with_capacity(text.len() + TAG);
        joined.extend_from_slice(text);
        joined.extend_from_slice(tag);
        cipher
            .decrypt(Nonce::<U16>::from_slice(nonce), joined.as_slice())
            .map(Zeroizing::new)
            .map_err(|_| DotenvxError::WrongKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sealed by `dotenvx encrypt` 1.51.1 (eciesjs 0.4.18); the key is this test's own.
    const KEY: &str = "5247554402ceaa8154fec0660d279d564e9bc16c8b3d6165022a3b57f40c7bb2";
    const PUBLIC: &str = "02419f95fdbcfec9e2a96be920dec89a38fca4a54c52ce10b61a0d13022ebf8848";
    const HELLO: &str = "encrypted:BM+1sFjeGHOmjN5Bs7cBQ9KFRBYsMwlnLNNr98XO1xJfdBZ0r70gshzK+mdv/NUw0WmJkEN5JoCPs8K20j5fvtDvNPBFroq7x3GyBPTDkTU9sXt4rBDyyHfrk/PcxeIV9iOCHT/S";
    const MULTI: &str = "encrypted:BPJdzORmJIKCuLb+fA2mUpTzzFHFRtcE7CcFMuJdKypYeMWCF20qUtfEVbo/9A/ztyDHw6bkoBdwKiLBZluZs2s3kxd/tmD6yxX5eN3StlpYHKUvxncZA4EBhtiAq7WdQuwmxQ==";

    #[test]
    fn values_sealed_by_dotenvx_open_with_its_key() {
        let key = PrivateKey::from_hex(KEY).unwrap();
        assert_eq!(key.public_hex(), PUBLIC);
        assert_eq!(key.open(HELLO).unwrap().as_slice(), b"world");
        assert_eq!(key.open(MULTI).unwrap().as_slice(), b"a\nb");
    }

    #[test]
    fn another_key_or_a_damaged_value_is_refused() {
        let other = PrivateKey::from_hex(&"11".repeat(32)).unwrap();
        assert_eq!(other.open(HELLO).unwrap_err(), DotenvxError::WrongKey);
        let key = PrivateKey::from_hex(KEY).unwrap();
        assert_eq!(
            key.open("encrypted:AAAA").unwrap_err(),
            DotenvxError::Malformed
        );
        assert_eq!(
            key.open("encrypted:not base64!").unwrap_err(),
            DotenvxError::Malformed
        );
        assert!(PrivateKey::from_hex("abcd").is_err());
        assert!(PrivateKey::from_hex(&"00".repeat(32)).is_err());
    }
}
