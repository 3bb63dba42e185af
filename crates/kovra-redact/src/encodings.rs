//! The encodings a value is looked for in: plain, base64 (standard and URL-safe, at every
//! alignment inside a longer encoded run), hex (both cases), URL-encoding and JSON string
//! escapes.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

/// Shortest encoded fragment still worth matching: shorter ones would shred ordinary text.
const MIN_PATTERN_LEN: usize = 6;

/// Every byte pattern `value` may appear as.
pub fn forms(value: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    let mut out: Vec<Zeroizing<Vec<u8>>> = vec![Zeroizing::new(value.to_vec())];
    out.push(Zeroizing::new(hex_encode(value, b"0123456789abcdef")));
    out.push(Zeroizing::new(hex_encode(value, b"0123456789ABCDEF")));
    // Standing alone, with its padding (so the marker swallows the `=` too).
    out.push(Zeroizing::new(STANDARD.encode(value).into_bytes()));
    out.push(Zeroizing::new(URL_SAFE.encode(value).into_bytes()));
    for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        for shift in 0..3 {
            if let Some(f) = base64_fragment(engine, value, shift) {
                out.push(f);
            }
        }
    }
    out.push(Zeroizing::new(percent_encode(
        value,
        b"0123456789ABCDEF",
        false,
    )));
    out.push(Zeroizing::new(percent_encode(
        value,
        b"0123456789abcdef",
        false,
    )));
    out.push(Zeroizing::new(percent_encode(
        value,
        b"0123456789ABCDEF",
        true,
    )));
    if let Ok(text) = std::str::from_utf8(value) {
        out.push(Zeroizing::new(json_escape(text, false)));
        out.push(Zeroizing::new(json_escape(text, true)));
        out.push(Zeroizing::new(json_escape(text, false).iter().fold(
            Vec::new(),
            |mut acc, &b| {
                if b == b'/' {
                    acc.push(b'\\');
                }
                acc.push(b);
                acc
            },
        )));
    }
    out.retain(|p| p.len() >= MIN_PATTERN_LEN);
    out.sort_by(|a, b| a.as_slice().cmp(b.as_slice()));
    out.dedup_by(|a, b| a.as_slice() == b.as_slice());
    out
}

fn hex_encode(value: &[u8], digits: &[u8; 16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() * 2);
    for b in value {
        out.push(digits[(b >> 4) as usize]);
        out.push(digits[(b & 15) as usize]);
    }
    out
}

/// The part of the base64 text of `value` that does not depend on its neighbours when the
/// value starts `shift` bytes into a 3-byte group of a longer encoded stream.
fn base64_fragment(
    engine: &base64::engine::GeneralPurpose,
    value: &[u8],
    shift: usize,
) -> Option<Zeroizing<Vec<u8>>> {
    let mut padded = Zeroizing::new(vec![0u8; shift]);
    padded.extend_from_slice(value);
    let encoded = Zeroizing::new(engine.encode(padded.as_slice()).into_bytes());
    // Characters covering the unknown leading bytes: a shift of 1 or 2 taints the first 2 or 3.
    let skip = match shift {
        0 => 0,
        1 => 2,
        _ => 3,
    };
    // The last group is tainted by unknown following bytes unless it ends on a boundary.
    let total = shift + value.len();
    let stable_end = if total.is_multiple_of(3) {
        encoded.len()
    } else {
        (total / 3) * 4
    };
    let fragment = if shift == 0 {
        // Standing alone (the common case), the whole unpadded text is the pattern.
        encoded.to_vec()
    } else {
        encoded.get(skip..stable_end.max(skip))?.to_vec()
    };
    (fragment.len() >= MIN_PATTERN_LEN).then(|| Zeroizing::new(fragment))
}

fn percent_encode(value: &[u8], digits: &[u8; 16], plus_for_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() * 3);
    for &b in value {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b),
            b' ' if plus_for_space => out.push(b'+'),
            _ => {
                out.push(b'%');
                out.push(digits[(b >> 4) as usize]);
                out.push(digits[(b & 15) as usize]);
            }
        }
    }
    out
}

/// The body of a JSON string holding `text` (without quotes). With `ascii`, every non-ASCII
/// character is a `\uXXXX` escape (surrogate pairs beyond the BMP), as many encoders do.
fn json_escape(text: &str, ascii: bool) -> Vec<u8> {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if ascii && !c.is_ascii() => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{:04x}", u));
                }
            }
            c => out.push(c),
        }
    }
    out.into_bytes()
}
