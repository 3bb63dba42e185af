//! `kovra_core::totp`: seeds typed as base32 or `otpauth://` URIs, and the parameters a
//! stored record or a received package's manifest carries.

use kovra_core::totp::{
    TotpParams, accept, code_at, decode_base32, encode_base32, parse_seed, remaining, step, uri,
    verify,
};

use crate::bytes::Bytes;

/// Times worth a code: the epoch, RFC 6238's vectors, today, and the end of time.
const TIMES: [u64; 5] = [0, 59, 1_111_111_109, 1_800_000_000, u64::MAX];

/// The first byte picks what the rest is:
/// - 0: a seed as typed. A seed that parses has checked parameters, survives its own
///   `otpauth://` URI, and yields codes of its digit count that verify.
/// - 1: a seed length, a seed, then parameters as JSON (how metadata and manifests hold
///   them). Whatever parameters deserialize, deriving and checking codes never panics.
/// - otherwise: base32 text; what decodes encodes back to the same bytes.
pub fn totp(data: &[u8]) {
    let mut b = Bytes::new(data);
    match b.byte() % 3 {
        0 => typed_seed(b.rest()),
        1 => {
            let len = usize::from(b.byte() % 64);
            let seed = b.take(len);
            if let Ok(params) = serde_json::from_slice::<TotpParams>(b.rest()) {
                for time in TIMES {
                    let code = code_at(seed, params, time);
                    let _ = (remaining(params, time), step(params, time));
                    let _ = verify(seed, params, &code, time);
                    let _ = accept(seed, params, &code, time, step(params, time));
                }
            }
        }
        _ => {
            let Ok(text) = std::str::from_utf8(b.rest()) else {
                return;
            };
            if let Ok(bytes) = decode_base32(text) {
                assert!(!bytes.is_empty());
                let encoded = encode_base32(&bytes);
                let back = decode_base32(&encoded);
                assert!(
                    back.as_deref().map(|v| v.as_slice()) == Ok(bytes.as_slice()),
                    "base32 round trip"
                );
            }
        }
    }
}

fn typed_seed(input: &[u8]) {
    let Ok((seed, params)) = parse_seed(input) else {
        return;
    };
    assert!(!seed.is_empty(), "a parsed seed has bytes");
    assert!((6..=8).contains(&params.digits), "digits are checked");
    assert!(
        (1..=86_400).contains(&params.period),
        "the period is checked"
    );
    let text = uri(&seed, params, "kovra fuzz", "a:b?c&d=e");
    let again = parse_seed(text.as_bytes());
    assert!(
        again
            .as_ref()
            .is_ok_and(|(s, p)| s.as_slice() == seed.as_slice() && *p == params),
        "a seed survives its own otpauth URI"
    );
    for time in TIMES {
        let code = code_at(&seed, params, time);
        assert_eq!(
            code.len(),
            usize::from(params.digits),
            "a code has its digits"
        );
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
        assert!(
            verify(&seed, params, &code, time).is_some(),
            "a fresh code verifies"
        );
        assert!(remaining(params, time) >= 1 && remaining(params, time) <= params.period);
    }
}
