//! Minting placeholders: the stand-ins a run's child holds instead of values.

use kovra_broker::registry::PlaceholderSpec;

/// A fresh placeholder of `spec`'s shape: the prefix, then `spec.length` characters drawn
/// uniformly from the charset. Rejection sampling keeps every character equally likely
/// (a modulo would favour the alphabet's first letters).
pub fn mint_placeholder(spec: &PlaceholderSpec) -> String {
    shaped(spec, fill)
}

/// The same shape, drawn from `seed` and `label` instead of the system generator: an agent
/// profile's placeholders stay the same across unlocks and restarts (so a file may hold
/// them), and differ between profiles and records. HMAC-SHA-256 in counter mode; a holder of
/// the placeholder learns nothing of the seed.
pub fn derive_placeholder(spec: &PlaceholderSpec, seed: &[u8], label: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut counter: u32 = 0;
    shaped(spec, |buf: &mut [u8]| {
        for chunk in buf.chunks_mut(32) {
            let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(seed) else {
                // HMAC takes keys of any length; unreachable.
                std::process::abort();
            };
            mac.update(label.as_bytes());
            mac.update(&counter.to_be_bytes());
            counter = counter.wrapping_add(1);
            let out = mac.finalize().into_bytes();
            chunk.copy_from_slice(&out[..chunk.len()]);
        }
    })
}

fn shaped(spec: &PlaceholderSpec, mut fill: impl FnMut(&mut [u8])) -> String {
    let alphabet = spec.charset.alphabet();
    let n = alphabet.len();
    // The largest multiple of `n` that fits in a byte: bytes at or above it are redrawn.
    let limit = 256 - (256 % n);
    let mut out = String::with_capacity(spec.prefix.len() + spec.length);
    out.push_str(&spec.prefix);
    let mut buf = [0u8; 64];
    let mut have = 0;
    while have < spec.length {
        fill(&mut buf);
        for &b in &buf {
            if have == spec.length {
                break;
            }
            if usize::from(b) < limit {
                out.push(char::from(alphabet[usize::from(b) % n]));
                have += 1;
            }
        }
    }
    out
}

fn fill(buf: &mut [u8]) {
    // The OS generator does not fail on any platform kovra supports; should it ever, a
    // placeholder is no secret, but it must not be predictable either: stop the run.
    if let Err(e) = getrandom::fill(buf) {
        tracing::error!("the system random generator failed: {e}");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kovra_broker::registry::Charset;

    #[test]
    fn placeholders_have_the_spec_shape_and_differ() {
        for charset in [Charset::Alnum, Charset::Hex, Charset::Base64url] {
            let spec = PlaceholderSpec {
                prefix: "sk-".into(),
                charset,
                length: 48,
                ..PlaceholderSpec::default()
            };
            let a = mint_placeholder(&spec);
            let b = mint_placeholder(&spec);
            assert_ne!(a, b);
            assert_eq!(a.len(), 51);
            let rest = a.strip_prefix("sk-").unwrap();
            assert!(rest.bytes().all(|c| charset.alphabet().contains(&c)), "{a}");
        }
    }

    #[test]
    fn derived_placeholders_are_stable_per_seed_and_label() {
        let spec = PlaceholderSpec {
            prefix: "sk-".into(),
            length: 40,
            ..PlaceholderSpec::default()
        };
        let a = derive_placeholder(&spec, b"seed-one", "secret:dev/openai/key");
        assert_eq!(
            a,
            derive_placeholder(&spec, b"seed-one", "secret:dev/openai/key")
        );
        assert_ne!(
            a,
            derive_placeholder(&spec, b"seed-two", "secret:dev/openai/key")
        );
        assert_ne!(
            a,
            derive_placeholder(&spec, b"seed-one", "secret:dev/openai/other")
        );
        assert_eq!(a.len(), 43);
        assert!(a.starts_with("sk-"));
    }

    #[test]
    fn every_letter_of_the_alphabet_is_used() {
        let spec = PlaceholderSpec {
            length: 4000,
            ..PlaceholderSpec::default()
        };
        let p = mint_placeholder(&spec);
        for c in spec.charset.alphabet() {
            assert!(p.as_bytes().contains(c));
        }
    }
}
