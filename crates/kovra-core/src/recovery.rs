//! The recovery kit: a random key, shown once to the human, under which the vault's root key
//! is wrapped a second time (`store::recovery`). With it a forgotten passphrase is replaced
//! (`kovra recover`); without it, and without the passphrase, the vault stays sealed.
//!
//! The key is 160 random bits, written as grouped base32 (RFC 4648's alphabet: no 0/1/8/9,
//! so nothing reads as another character) with a 40-bit check appended: 40 characters in
//! ten groups of four. The check only catches typing mistakes, so a typo is told apart from
//! a kit of another vault; it adds nothing to the secret.
//!
//! The wrapping key is HMAC-SHA256 keyed by the recovery key over a label, the vault id and
//! a fresh salt, the construction `crypto::subkey` uses, not Argon2id as for the passphrase.
//! Argon2id's cost slows down guessing a human-chosen passphrase; a 160-bit random key
//! cannot be guessed, so stretching it would add nothing but a wait.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::crypto::{self, Key};
use crate::secret::SecretString;

/// The recovery key's length: 160 bits.
pub const KEY_BYTES: usize = 20;
const CHECK_BYTES: usize = 5;
const GROUP: usize = 4;
const LABEL: &[u8] = b"kovra-recovery-v1";

/// Why a typed kit was refused before any key was tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KitError {
    #[error(
        "this is not a recovery kit: expected 40 characters of A-Z and 2-7 (dashes and spaces are ignored)"
    )]
    Malformed,
    #[error("the recovery kit has a typing mistake: its check characters do not match")]
    Typo,
}

/// A recovery key: wiped when dropped, never printed by `Debug`.
pub struct RecoveryKey(Zeroizing<[u8; KEY_BYTES]>);

impl std::fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryKey(<redacted>)")
    }
}

fn check(key: &[u8; KEY_BYTES]) -> [u8; CHECK_BYTES] {
    let digest = Sha256::new()
        .chain_update(b"kovra-recovery-check-v1")
        .chain_update(key)
        .finalize();
    let mut out = [0u8; CHECK_BYTES];
    out.copy_from_slice(&digest[..CHECK_BYTES]);
    out
}

impl RecoveryKey {
    /// A fresh key from the OS generator.
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; KEY_BYTES]);
        crypto::fill_random(key.as_mut());
        RecoveryKey(key)
    }

    /// The kit as the human writes it down: `ABCD-EFGH-…`, ten groups of four.
    pub fn to_kit(&self) -> SecretString {
        let mut raw = Zeroizing::new(Vec::with_capacity(KEY_BYTES + CHECK_BYTES));
        raw.extend_from_slice(self.0.as_ref());
        raw.extend_from_slice(&check(&self.0));
        let plain = Zeroizing::new(data_encoding::BASE32_NOPAD.encode(&raw));
        let mut grouped = String::with_capacity(plain.len() + plain.len() / GROUP);
        for (i, c) in plain.chars().enumerate() {
            if i > 0 && i % GROUP == 0 {
                grouped.push('-');
            }
            grouped.push(c);
        }
        SecretString::new(grouped)
    }

    /// Read a typed kit: any case, with or without dashes and spaces.
    pub fn parse(typed: &[u8]) -> Result<Self, KitError> {
        let mut clean = Zeroizing::new(Vec::with_capacity(typed.len()));
        for &b in typed {
            match b {
                b'-' | b' ' | b'\t' | b'\r' | b'\n' => {}
                b'a'..=b'z' => clean.push(b.to_ascii_uppercase()),
                b'A'..=b'Z' | b'2'..=b'7' => clean.push(b),
                _ => return Err(KitError::Malformed),
            }
        }
        let raw = Zeroizing::new(
            data_encoding::BASE32_NOPAD
                .decode(&clean)
                .map_err(|_| KitError::Malformed)?,
        );
        if raw.len() != KEY_BYTES + CHECK_BYTES {
            return Err(KitError::Malformed);
        }
        let mut key = Zeroizing::new([0u8; KEY_BYTES]);
        key.copy_from_slice(&raw[..KEY_BYTES]);
        if !crypto::mac_eq(&check(&key), &raw[KEY_BYTES..]) {
            return Err(KitError::Typo);
        }
        Ok(RecoveryKey(key))
    }

    /// The key that wraps the root key for this vault and salt.
    pub fn wrapping_key(&self, vault_uuid: &[u8], salt: &[u8]) -> Key {
        Key::from_array(crypto::mac(self.0.as_ref(), &[LABEL, vault_uuid, salt]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kit_round_trips_in_any_case_and_spacing() {
        let key = RecoveryKey::generate();
        let kit = key.to_kit();
        let text = kit.expose();
        assert_eq!(text.len(), 40 + 9);
        assert_eq!(text.split('-').count(), 10);
        let back = RecoveryKey::parse(text.as_bytes()).unwrap();
        assert_eq!(back.0.as_ref(), key.0.as_ref());
        let loose = text.replace('-', " ").to_lowercase();
        let back = RecoveryKey::parse(loose.as_bytes()).unwrap();
        assert_eq!(back.0.as_ref(), key.0.as_ref());
    }

    #[test]
    fn a_typo_is_told_apart_from_garbage() {
        let kit = RecoveryKey::generate().to_kit();
        let mut typo = kit.expose().as_bytes().to_vec();
        typo[0] = if typo[0] == b'A' { b'B' } else { b'A' };
        assert_eq!(RecoveryKey::parse(&typo).unwrap_err(), KitError::Typo);
        assert_eq!(
            RecoveryKey::parse(b"not a kit").unwrap_err(),
            KitError::Malformed
        );
        assert_eq!(
            RecoveryKey::parse(&kit.expose().as_bytes()[..20]).unwrap_err(),
            KitError::Malformed
        );
    }

    #[test]
    fn wrapping_keys_differ_per_vault_and_salt() {
        let key = RecoveryKey::generate();
        let a = key.wrapping_key(b"vault-a", b"salt");
        assert_eq!(a, key.wrapping_key(b"vault-a", b"salt"));
        assert_ne!(a, key.wrapping_key(b"vault-b", b"salt"));
        assert_ne!(a, key.wrapping_key(b"vault-a", b"other"));
        assert_ne!(a, RecoveryKey::generate().wrapping_key(b"vault-a", b"salt"));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = RecoveryKey::generate();
        assert_eq!(format!("{key:?}"), "RecoveryKey(<redacted>)");
    }
}
