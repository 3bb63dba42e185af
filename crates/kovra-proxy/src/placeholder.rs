//! Minting placeholders: the stand-ins a run's child holds instead of values.

use kovra_broker::registry::PlaceholderSpec;

/// A fresh placeholder of `spec`'s shape: the prefix, then `spec.length` characters drawn
/// uniformly from the charset. Rejection sampling keeps every character equally likely
/// (a modulo would favour the alphabet's first letters).
pub fn mint_placeholder(spec: &PlaceholderSpec) -> String {
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
