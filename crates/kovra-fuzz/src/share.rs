//! `kovra-share`: what a receiver parses from bytes it did not make: the package itself
//! (age armor and headers), the manifest inside, recipients, typed tokens and a stored
//! identity.

use std::sync::OnceLock;

use kovra_core::coord::Coordinate;
use kovra_core::totp;
use kovra_share::identity::verifying_key;
use kovra_share::package::open;
use kovra_share::{Identity, Manifest, Recipient, Token};

use crate::bytes::Bytes;

/// The receiver's identity. Fuzzed bytes cannot be sealed to it, so a fresh one per process
/// loses nothing: what is exercised is everything that reads a package before decryption.
fn receiver() -> Option<&'static Identity> {
    static ID: OnceLock<Option<Identity>> = OnceLock::new();
    ID.get_or_init(|| Identity::generate().ok()).as_ref()
}

/// The first byte picks the parser:
/// - 0: a package for `kovra receive`: it opens to nothing, without panicking.
/// - 1: a manifest (JSON, as `open` reads it after the signature check). One that parses
///   round-trips, and what the daemon then does with each record (decode the value,
///   parse the coordinate, derive a TOTP code when the record says it is one) is safe.
/// - 2: a recipient as typed; one that parses prints a text that parses to itself.
/// - 3: a token as typed; one that parses is accepted again in its canonical form.
/// - otherwise: a stored identity, and a sender's signing key.
pub fn share(data: &[u8]) {
    let mut b = Bytes::new(data);
    let mode = b.byte() % 5;
    let rest = b.rest();
    match mode {
        0 => {
            let (Some(id), Some(token)) = (
                receiver(),
                Token::parse(b"AAAA AAAA AAAA AAAA AAAA AAAA AAAA AAAA"),
            ) else {
                return;
            };
            assert!(
                open(rest, id, &token).is_err(),
                "no fuzzed package opens with a fresh identity"
            );
        }
        1 => manifest(rest),
        2 => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            if let Ok(r) = Recipient::parse(text) {
                let canonical = r.to_text();
                let again = Recipient::parse(&canonical).map(|r| r.to_text());
                assert_eq!(
                    again.ok(),
                    Some(canonical),
                    "a recipient's text parses to itself"
                );
            }
        }
        3 => {
            if let Some(token) = Token::parse(rest) {
                let again = Token::parse(token.expose().as_bytes());
                assert_eq!(
                    again.as_ref().map(Token::expose),
                    Some(token.expose()),
                    "a token's canonical form parses to itself"
                );
            }
        }
        _ => {
            if let Ok(id) = Identity::from_stored(rest) {
                let back = Identity::from_stored(&id.to_stored());
                assert_eq!(
                    back.ok().map(|i| i.public()),
                    Some(id.public()),
                    "a stored identity round-trips"
                );
                assert!(verifying_key(&id.public().signing_key).is_some());
            }
            if let Ok(text) = std::str::from_utf8(rest) {
                let _ = verifying_key(text);
            }
        }
    }
}

fn manifest(bytes: &[u8]) {
    let Ok(m) = serde_json::from_slice::<Manifest>(bytes) else {
        return;
    };
    let json = serde_json::to_vec(&m).unwrap_or_default();
    let back = serde_json::from_slice::<Manifest>(&json);
    assert!(
        back.is_ok(),
        "a manifest that parsed writes one that parses"
    );
    let again = back.map(|b| serde_json::to_vec(&b).unwrap_or_default());
    assert!(again.ok() == Some(json), "manifest encoding is stable");
    for record in &m.records {
        let _ = Coordinate::parse(&record.coordinate);
        let Ok(value) = record.value() else {
            continue;
        };
        // `kovra get` on a received TOTP record derives a code from its parameters.
        if let Some(params) = record.totp {
            let code = totp::code_at(&value, params, 1_800_000_000);
            let _ = totp::verify(&value, params, &code, 1_800_000_000);
        }
    }
}
