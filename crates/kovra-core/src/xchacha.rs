//! XChaCha20-Poly1305, the vault's cipher, computed through `ring`.
//!
//! Written here rather than taken whole from the RustCrypto cipher because of speed on short
//! messages, which are all the vault seals: values, metadata, audit entries. Through that
//! cipher one seal or open of a few hundred bytes cost 2–3 µs, most of it Poly1305's AVX2
//! backend (chosen at run time) setting up and finishing; a twenty-record `kovra run` opens
//! twenty values and seals twenty audit entries. By its definition (draft-irtf-cfrg-xchacha
//! §2.3), XChaCha20-Poly1305 is ChaCha20-Poly1305 (RFC 8439) under the subkey
//! HChaCha20(key, nonce[0..16]) with the nonce `0⁴ ‖ nonce[16..24]`. So the subkey comes from
//! the `chacha20` crate and the AEAD from `ring` (assembly, already in the daemon through
//! rustls): about 0.5 µs for the same message. Tests hold the output byte for byte equal to
//! the RustCrypto cipher's.
//!
//! A subkey opens only the one blob its nonce names. It is held in a zeroizing buffer;
//! `ring`'s copy lives in a key object on the stack for the length of one call.

use chacha20::R20;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, Tag, UnboundKey};
use zeroize::{Zeroize, Zeroizing};

use crate::crypto::{KEY_LEN, Key, NONCE_LEN};

pub(crate) const TAG_LEN: usize = 16;

/// The ChaCha20-Poly1305 key and nonce that an XChaCha20-Poly1305 `nonce` stands for.
fn derive(key: &Key, nonce: &[u8; NONCE_LEN]) -> Option<(LessSafeKey, Nonce)> {
    let head: [u8; 16] = nonce[..16].try_into().ok()?;
    let mut raw = chacha20::hchacha::<R20>(&(*key.expose()).into(), &head.into());
    let mut subkey = Zeroizing::new([0u8; KEY_LEN]);
    subkey.copy_from_slice(&raw);
    raw.as_mut_slice().zeroize();
    let unbound = UnboundKey::new(&CHACHA20_POLY1305, subkey.as_slice()).ok()?;
    let mut short = [0u8; 12];
    short[4..].copy_from_slice(&nonce[16..]);
    Some((
        LessSafeKey::new(unbound),
        Nonce::assume_unique_for_key(short),
    ))
}

/// `nonce ‖ ciphertext ‖ tag` of `plaintext` under `key`, binding `aad`.
pub(crate) fn seal(key: &Key, nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    // A 32-byte key is ChaCha20-Poly1305's key length, and no message held in memory comes
    // near its limit (256 GiB): neither step can fail.
    #[allow(clippy::expect_used)]
    let (sealer, short) = derive(key, nonce).expect("a 32-byte key");
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(nonce);
    out.extend_from_slice(plaintext);
    #[allow(clippy::expect_used)]
    let tag = sealer
        .seal_in_place_separate_tag(short, Aad::from(aad), &mut out[NONCE_LEN..])
        .expect("a message held in memory is within the cipher's limit");
    out.extend_from_slice(tag.as_ref());
    out
}

/// Open `sealed` (as [`seal`] makes it) into `buf` (cleared first): whether it opened. On
/// failure `buf` holds no plaintext, but whatever it held is the caller's to wipe.
pub(crate) fn open_into(key: &Key, aad: &[u8], sealed: &[u8], buf: &mut Vec<u8>) -> bool {
    buf.clear();
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return false;
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
    let (Ok(nonce), Ok(tag)) = (
        <[u8; NONCE_LEN]>::try_from(nonce),
        <[u8; TAG_LEN]>::try_from(tag),
    ) else {
        return false;
    };
    let Some((opener, short)) = derive(key, &nonce) else {
        return false;
    };
    buf.extend_from_slice(ct);
    let opened = opener
        .open_in_place_separate_tag(short, Aad::from(aad), Tag::from(tag), buf, 0..)
        .is_ok();
    if !opened {
        buf.as_mut_slice().zeroize();
        buf.clear();
    }
    opened
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::random_key;
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};

    fn reference(key: &Key, nonce: &[u8; NONCE_LEN], aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let ct = XChaCha20Poly1305::new_from_slice(key.as_ref())
            .unwrap()
            .encrypt(&XNonce::from(*nonce), Payload { msg: plain, aad })
            .unwrap();
        [nonce.as_slice(), &ct].concat()
    }

    #[test]
    fn seals_exactly_as_the_reference_cipher_and_opens_what_it_seals() {
        for len in [0usize, 1, 15, 16, 17, 63, 64, 65, 255, 300, 1000, 4097] {
            let key = random_key();
            let nonce: [u8; NONCE_LEN] = crate::crypto::random_array();
            let plain: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let aad = (len as u64).to_be_bytes();
            let sealed = seal(&key, &nonce, &aad, &plain);
            assert_eq!(sealed, reference(&key, &nonce, &aad, &plain), "{len} bytes");
            let mut buf = Vec::new();
            assert!(open_into(&key, &aad, &sealed, &mut buf));
            assert_eq!(buf, plain);
        }
    }

    #[test]
    fn a_changed_bit_another_key_or_aad_or_a_cut_blob_does_not_open() {
        let key = random_key();
        let nonce: [u8; NONCE_LEN] = crate::crypto::random_array();
        let sealed = seal(&key, &nonce, b"aad", b"kovra-canary-xchacha");
        let mut buf = Vec::new();
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1 << (i % 8);
            assert!(!open_into(&key, b"aad", &bad, &mut buf), "byte {i}");
            assert!(buf.is_empty());
        }
        assert!(!open_into(&random_key(), b"aad", &sealed, &mut buf));
        assert!(!open_into(&key, b"other", &sealed, &mut buf));
        for cut in [0, 1, NONCE_LEN, NONCE_LEN + TAG_LEN - 1, sealed.len() - 1] {
            assert!(!open_into(&key, b"aad", &sealed[..cut], &mut buf));
        }
    }
}
