//! Checking that many sealed blobs open under one key, fast: what `audit verify` does for
//! every entry of the trail.
//!
//! The blobs are XChaCha20-Poly1305 ([`crate::crypto::seal`]). Through the RustCrypto
//! cipher, a check of a 300-byte audit entry cost ~1.7 µs, most of it Poly1305's AVX2
//! backend setting up and finishing for a short message; a trail of 100,000 entries took
//! 250 ms to verify. XChaCha20-Poly1305 is, by its definition (draft-irtf-cfrg-xchacha §2.3),
//! ChaCha20-Poly1305 (RFC 8439) under the subkey HChaCha20(key, nonce[0..16]) with the nonce
//! `0⁴ ‖ nonce[16..24]`: so the subkey comes from the `chacha20` crate (the one the cipher
//! uses) and the ChaCha20-Poly1305 open from `ring` (already in the daemon through rustls),
//! whose assembly takes a fraction of that. A test holds the check equal to the cipher's own
//! open on sealed, altered and truncated blobs.
//!
//! The subkey opens only the one blob its nonce names; it is held in a zeroizing buffer, and
//! `ring`'s copy of it lives on the stack for the length of one check.

use chacha20::R20;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, Tag, UnboundKey};
use zeroize::{Zeroize, Zeroizing};

use crate::crypto::{KEY_LEN, Key, NONCE_LEN};

const TAG_LEN: usize = 16;

/// Checks that sealed blobs open under one key, with one buffer for all of them (wiped
/// after each check and on drop): what verifying a long chain needs, without an allocation
/// per blob.
pub struct OpenCheck {
    key: Key,
    buf: Zeroizing<Vec<u8>>,
}

impl OpenCheck {
    pub fn new(key: &Key) -> Self {
        OpenCheck {
            key: key.clone(),
            buf: Zeroizing::new(Vec::new()),
        }
    }

    /// Whether `sealed` (as [`seal`](crate::crypto::seal) makes it) opens under the key
    /// with `aad`: exactly when [`open`](crate::crypto::open) would succeed.
    pub fn opens(&mut self, aad: &[u8], sealed: &[u8]) -> bool {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return false;
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
        let (Ok(head), Ok(tail), Ok(tag)) = (
            <[u8; 16]>::try_from(&nonce[..16]),
            <[u8; 8]>::try_from(&nonce[16..]),
            <[u8; TAG_LEN]>::try_from(tag),
        ) else {
            return false;
        };
        let mut subkey = Zeroizing::new([0u8; KEY_LEN]);
        subkey.copy_from_slice(&chacha20::hchacha::<R20>(
            &(*self.key.expose()).into(),
            &head.into(),
        ));
        let Ok(unbound) = UnboundKey::new(&CHACHA20_POLY1305, subkey.as_slice()) else {
            return false;
        };
        let mut short = [0u8; 12];
        short[4..].copy_from_slice(&tail);
        self.buf.clear();
        self.buf.extend_from_slice(ct);
        let ok = LessSafeKey::new(unbound)
            .open_in_place_separate_tag(
                Nonce::assume_unique_for_key(short),
                Aad::from(aad),
                Tag::from(tag),
                self.buf.as_mut_slice(),
                0..,
            )
            .is_ok();
        self.buf.as_mut_slice().zeroize();
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{open, random_key, seal};

    #[test]
    fn the_check_agrees_with_the_cipher_on_sealed_altered_and_cut_blobs() {
        let key = random_key();
        let other = random_key();
        let mut check = OpenCheck::new(&key);
        for len in [0usize, 1, 15, 16, 17, 63, 64, 65, 255, 300, 1000] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let aad = (len as u64).to_be_bytes();
            let sealed = seal(&key, &aad, &plain);
            assert!(open(&key, &aad, &sealed).is_ok());
            assert!(
                check.opens(&aad, &sealed),
                "a sealed blob of {len} bytes opens"
            );
            assert!(!check.opens(&[1], &sealed), "another aad");
            assert!(!OpenCheck::new(&other).opens(&aad, &sealed), "another key");
            // Every single-bit change anywhere (nonce, ciphertext, tag) is refused, as the
            // cipher refuses it.
            for i in 0..sealed.len() {
                let mut bad = sealed.clone();
                bad[i] ^= 1 << (i % 8);
                assert_eq!(check.opens(&aad, &bad), open(&key, &aad, &bad).is_ok());
                assert!(!check.opens(&aad, &bad), "byte {i} of {len} altered");
            }
            for cut in [0, 1, NONCE_LEN, NONCE_LEN + TAG_LEN - 1, sealed.len() - 1] {
                let short = &sealed[..cut.min(sealed.len())];
                assert_eq!(check.opens(&aad, short), open(&key, &aad, short).is_ok());
            }
        }
    }

    #[test]
    fn the_check_leaves_no_plaintext_in_its_buffer() {
        let key = random_key();
        let mut check = OpenCheck::new(&key);
        let sealed = seal(&key, b"a", b"canary-plaintext-canary");
        assert!(check.opens(b"a", &sealed));
        assert!(check.buf.iter().all(|b| *b == 0));
    }
}
