//! Checking that many sealed blobs open under one key, fast: what `audit verify` does for
//! every entry of the trail, through [`crate::xchacha`] (the 100,000 entries of a long trail
//! took 250 ms through the RustCrypto cipher), with one buffer for all of them.

use zeroize::{Zeroize, Zeroizing};

use crate::crypto::Key;

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
        let ok = crate::xchacha::open_into(&self.key, aad, sealed, &mut self.buf);
        self.buf.as_mut_slice().zeroize();
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{NONCE_LEN, open, random_key, seal};
    use crate::xchacha::TAG_LEN;

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
