//! Canaries and the scanners that look for them, shared by every suite: unique values to
//! plant, the one list of forms a value can leak in (plain and its common encodings), and
//! assertions that a value is absent from bytes, output, files or a directory.
//!
//! A failure names the canary's label, the form found and its offset, and shows the bytes
//! around it with every form of the value masked: a leak test must not leak the value itself.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use crate::harness::{Home, contains, walk};

// ---------------------------------------------------------------------------------------
// Canaries
// ---------------------------------------------------------------------------------------

/// `n` random bytes, hex-encoded.
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .expect("urandom");
    hex::encode(b)
}

/// A unique canary per call: `CANARY-{tag}-{16 random hex digits}`.
pub fn canary(tag: &str) -> String {
    format!("CANARY-{tag}-{}", random_hex(8))
}

/// A canary with characters that URL-encoding and JSON escaping change (`/`, space, `"`,
/// `+`, non-ASCII), chosen so that its standard and URL-safe base64 differ.
pub fn tricky_canary(tag: &str) -> String {
    for _ in 0..1000 {
        let v = format!("{}/é q\"+~???", canary(tag));
        let b64 = STANDARD.encode(v.as_bytes());
        if b64.contains('+') || b64.contains('/') {
            return v;
        }
    }
    panic!("no canary whose base64 differs between alphabets");
}

/// A bearer-style canary with `/`, `+` and `=` in it, so its base64, URL-encoded and
/// JSON-escaped (`\/`) forms all differ from the plain one.
pub fn token_canary(tag: &str) -> String {
    format!(
        "sk-canary-{tag}-{}/{}+{}=",
        random_hex(12),
        random_hex(6),
        random_hex(6)
    )
}

// ---------------------------------------------------------------------------------------
// Forms
// ---------------------------------------------------------------------------------------

/// One way a value can be written out.
pub struct Form {
    pub label: &'static str,
    pub bytes: Vec<u8>,
}

/// Percent-encoding of `raw`: unreserved bytes kept, the rest `%XX` (`+` for space when
/// `plus`).
pub fn pct(raw: &[u8], upper: bool, plus: bool) -> String {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut s = String::new();
    for &b in raw {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                s.push(b as char)
            }
            b' ' if plus => s.push('+'),
            _ => {
                s.push('%');
                s.push(digits[(b >> 4) as usize] as char);
                s.push(digits[(b & 15) as usize] as char);
            }
        }
    }
    s
}

/// Every form of `value` that must never be shown where the value is not: plain, base64
/// (both alphabets, with and without padding, and the alignment-independent middle of a
/// longer run), hex (both cases), percent-encoding, JSON escaping, and the longest random
/// run of a canary (`core`), should only a piece of it leak. Forms with identical bytes are
/// listed once.
pub fn forms(value: &str) -> Vec<Form> {
    let raw = value.as_bytes();
    let json = serde_json::to_string(value).expect("json");
    let mut v: Vec<(&'static str, Vec<u8>)> = vec![
        ("plain", raw.to_vec()),
        ("base64", STANDARD.encode(raw).into_bytes()),
        ("base64-nopad", STANDARD_NO_PAD.encode(raw).into_bytes()),
        ("base64url", URL_SAFE.encode(raw).into_bytes()),
        ("base64url-nopad", URL_SAFE_NO_PAD.encode(raw).into_bytes()),
        ("hex", hex::encode(raw).into_bytes()),
        ("HEX", hex::encode_upper(raw).into_bytes()),
        ("percent", pct(raw, true, false).into_bytes()),
        ("percent-lower", pct(raw, false, false).into_bytes()),
        ("percent-plus", pct(raw, true, true).into_bytes()),
        ("json", json.trim_matches('"').as_bytes().to_vec()),
        ("json-slash", value.replace('/', "\\/").into_bytes()),
    ];
    // Inside a longer base64 run at the other two alignments: the middle, which depends on
    // the value alone.
    for (label, prefix) in [("base64-shift1", &b"x"[..]), ("base64-shift2", &b"xy"[..])] {
        let mut p = prefix.to_vec();
        p.extend_from_slice(raw);
        for enc in [STANDARD.encode(&p), URL_SAFE.encode(&p)] {
            if enc.len() >= 16 {
                v.push((label, enc.as_bytes()[4..enc.len() - 4].to_vec()));
            }
        }
    }
    if let Some(core) = core(value) {
        v.push(("core", core.as_bytes().to_vec()));
    }
    let mut out: Vec<Form> = Vec::new();
    for (label, bytes) in v {
        if !bytes.is_empty() && !out.iter().any(|f| f.bytes == bytes) {
            out.push(Form { label, bytes });
        }
    }
    out
}

/// The longest run of hex digits in `value`, when at least 16 long: the random part of a
/// canary.
fn core(value: &str) -> Option<&str> {
    value
        .split(|c: char| !c.is_ascii_hexdigit())
        .max_by_key(|s| s.len())
        .filter(|s| s.len() >= 16)
}

// ---------------------------------------------------------------------------------------
// Finding forms
// ---------------------------------------------------------------------------------------

/// Where a form of a value was found.
#[derive(Debug, Clone, Copy)]
pub struct Hit {
    pub form: &'static str,
    pub offset: usize,
}

fn position(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The first form of `value` in `hay`, by offset.
pub fn find(hay: &[u8], value: &str) -> Option<Hit> {
    forms(value)
        .into_iter()
        .filter_map(|f| {
            position(hay, &f.bytes).map(|offset| Hit {
                form: f.label,
                offset,
            })
        })
        .min_by_key(|h| h.offset)
}

/// Up to 40 bytes either side of `hit`, every form of `value` masked with `*`.
fn excerpt(hay: &[u8], value: &str, hit: Hit) -> String {
    let start = hit.offset.saturating_sub(40);
    let end = (hit.offset + value.len().max(8) + 40).min(hay.len());
    let mut window = hay[start..end].to_vec();
    for f in forms(value) {
        let n = f.bytes.len();
        let mut i = 0;
        while i + n <= window.len() {
            if window[i..i + n] == f.bytes[..] {
                window[i..i + n].iter_mut().for_each(|b| *b = b'*');
                i += n;
            } else {
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&window).escape_debug().to_string()
}

/// `value` is in no form in `hay`. `what` names the place and the canary (a label or a
/// coordinate, never the value).
#[track_caller]
pub fn assert_absent(hay: &[u8], value: &str, what: &str) {
    if let Some(hit) = find(hay, value) {
        panic!(
            "{what}: the canary leaked as {} at offset {} of {} bytes, near: \"{}\"",
            hit.form,
            hit.offset,
            hay.len(),
            excerpt(hay, value, hit)
        );
    }
}

/// `assert_absent`, and also none of the value's decodings (`decoded_leaks`) of the value and
/// of its first `/`-separated part: for output a child printed in any encoding it liked.
#[track_caller]
pub fn assert_absent_decoded(hay: &[u8], value: &str, what: &str) {
    assert_absent(hay, value, what);
    let first = value.split('/').next().unwrap_or(value);
    for (part, needle) in [("the value", value), ("its first part", first)] {
        let found = decoded_leaks(hay, needle.as_bytes());
        assert!(
            found.is_empty(),
            "{what}: {part} leaked after decoding as {found:?} ({} bytes scanned)",
            hay.len()
        );
    }
}

/// Nothing any command of `h` printed so far holds `value`.
#[track_caller]
pub fn assert_not_printed(h: &Home, value: &str, what: &str) {
    assert_absent(
        &h.transcript.borrow(),
        value,
        &format!("{what} (transcript)"),
    );
}

/// Every file under `dir` holding a form of `value`, with the first hit in each.
pub fn files_with(dir: &Path, value: &str) -> Vec<(PathBuf, Hit)> {
    let mut hits = Vec::new();
    walk(dir, &mut |p| {
        if let Ok(bytes) = std::fs::read(p)
            && let Some(hit) = find(&bytes, value)
        {
            hits.push((p.to_path_buf(), hit));
        }
    });
    hits
}

/// No file under `dirs` holds `value`, in any form.
#[track_caller]
pub fn assert_not_in_dirs(dirs: &[&Path], value: &str, what: &str) {
    let hits: Vec<_> = dirs.iter().flat_map(|d| files_with(d, value)).collect();
    assert!(
        hits.is_empty(),
        "{what}: the canary is in {}",
        hits.iter()
            .map(|(p, h)| format!("{} ({} at offset {})", p.display(), h.form, h.offset))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// No file under the home and runtime dirs of `h` holds `value`, in any form.
#[track_caller]
pub fn assert_not_in_files(h: &Home, value: &str, what: &str) {
    assert_not_in_dirs(&[&h.home, &h.runtime], value, what);
}

/// Neither printed nor in any file of `h`.
#[track_caller]
pub fn assert_nowhere(h: &Home, value: &str, what: &str) {
    assert_not_in_files(h, value, what);
    assert_not_printed(h, value, what);
}

// ---------------------------------------------------------------------------------------
// Decoding scans: a value at any alignment inside a longer encoded run
// ---------------------------------------------------------------------------------------

/// Every way `needle` shows through in `out`: plain, or after decoding any run of base64
/// (either alphabet, any alignment), hex (either case, either parity), percent-encoding or
/// JSON string escapes. Independent of how the redactor works, and of where a value sits
/// inside a longer encoded run.
pub fn decoded_leaks(out: &[u8], needle: &[u8]) -> Vec<&'static str> {
    let mut found = Vec::new();
    if contains(out, needle) {
        found.push("plain");
    }
    if contains(&percent_decode(out, false), needle) || contains(&percent_decode(out, true), needle)
    {
        found.push("url");
    }
    if contains(&json_unescape(out), needle) {
        found.push("json");
    }
    for run in runs(out, |b| b.is_ascii_hexdigit()) {
        for start in 0..2 {
            let decoded: Vec<u8> = run[start.min(run.len())..]
                .chunks_exact(2)
                .filter_map(|p| {
                    std::str::from_utf8(p)
                        .ok()
                        .and_then(|s| u8::from_str_radix(s, 16).ok())
                })
                .collect();
            if contains(&decoded, needle) {
                found.push("hex");
            }
        }
    }
    for run in runs(out, |b| b.is_ascii_alphanumeric() || b"+/-_".contains(&b)) {
        for start in 0..4 {
            if contains(&base64_decode(&run[start.min(run.len())..]), needle) {
                found.push("base64");
            }
        }
    }
    found.dedup();
    found
}

fn runs(hay: &[u8], class: impl Fn(u8) -> bool) -> Vec<&[u8]> {
    hay.split(|&b| !class(b)).filter(|r| r.len() >= 8).collect()
}

fn base64_decode(text: &[u8]) -> Vec<u8> {
    let sextet = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' | b'-' => 62,
            _ => 63,
        }
    };
    let mut out = Vec::new();
    for group in text.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in group.iter().enumerate() {
            acc |= sextet(c) << (18 - 6 * i);
        }
        let bytes = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        let n = match group.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => 0,
        };
        out.extend_from_slice(&bytes[..n]);
    }
    out
}

fn percent_decode(text: &[u8], plus_is_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c == b'%'
            && i + 2 < text.len()
            && let Some(b) = std::str::from_utf8(&text[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if plus_is_space && c == b'+' { b' ' } else { c });
        i += 1;
    }
    out
}

fn json_unescape(text: &[u8]) -> Vec<u8> {
    let s = String::from_utf8_lossy(text);
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let hex4 = |at: usize| -> Option<u32> {
        let h: String = chars.get(at..at + 4)?.iter().collect();
        u32::from_str_radix(&h, 16).ok()
    };
    while i < chars.len() {
        if chars[i] == '\\' && i + 1 < chars.len() {
            match chars[i + 1] {
                'u' => {
                    if let Some(u) = hex4(i + 2) {
                        if (0xd800..0xdc00).contains(&u)
                            && chars.get(i + 6) == Some(&'\\')
                            && chars.get(i + 7) == Some(&'u')
                            && let Some(l) = hex4(i + 8)
                        {
                            let c = 0x10000 + ((u - 0xd800) << 10) + (l - 0xdc00);
                            out.extend(char::from_u32(c));
                            i += 12;
                            continue;
                        }
                        out.extend(char::from_u32(u));
                        i += 6;
                        continue;
                    }
                }
                'n' => {
                    out.push('\n');
                    i += 2;
                    continue;
                }
                c @ ('"' | '\\' | '/') => {
                    out.push(c);
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out.into_bytes()
}
