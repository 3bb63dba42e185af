//! TOTP (RFC 6238): parsing a seed given as base32 or an `otpauth://totp/` URI, and deriving
//! codes from it. The seed is stored as raw bytes in an ordinary sealed record; only the
//! parameters below live in its (authenticated) metadata. No error here ever echoes input.

use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, Builder, Secret};
use zeroize::Zeroizing;

/// The HMAC behind a TOTP code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TotpAlgorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl TotpAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            TotpAlgorithm::Sha1 => "SHA1",
            TotpAlgorithm::Sha256 => "SHA256",
            TotpAlgorithm::Sha512 => "SHA512",
        }
    }
}

/// How codes are derived from a seed. Deserializing checks the ranges (see
/// [`UncheckedParams`]), so parameters read from bytes are always usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "UncheckedParams")]
pub struct TotpParams {
    pub algorithm: TotpAlgorithm,
    pub digits: u8,
    /// Seconds per step.
    pub period: u64,
}

impl Default for TotpParams {
    fn default() -> Self {
        TotpParams {
            algorithm: TotpAlgorithm::Sha1,
            digits: 6,
            period: 30,
        }
    }
}

/// [`TotpParams`] as written in a record's metadata, on the wire or in a received package's
/// manifest; they become parameters only through [`check`]. Unchecked, `"digits": 10` made
/// `code_at` panic inside totp-rs (10^10 does not fit its u32), so a sender could share a
/// TOTP record that crashed the receiver's daemon at the first `kovra get` (found by the
/// `share` and `totp` fuzz targets).
#[derive(Deserialize)]
struct UncheckedParams {
    algorithm: TotpAlgorithm,
    digits: u8,
    period: u64,
}

impl TryFrom<UncheckedParams> for TotpParams {
    type Error = TotpError;
    fn try_from(p: UncheckedParams) -> Result<Self, TotpError> {
        check(TotpParams {
            algorithm: p.algorithm,
            digits: p.digits,
            period: p.period,
        })
    }
}

/// Why a seed was refused. Codes are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    #[error("the TOTP seed is not valid base32")]
    Base32,
    #[error("the otpauth URI is malformed (expected otpauth://totp/LABEL?secret=BASE32&...)")]
    Uri,
    #[error("unsupported TOTP algorithm (use SHA1, SHA256 or SHA512)")]
    Algorithm,
    #[error("TOTP codes must have 6 to 8 digits")]
    Digits,
    #[error("the TOTP period must be between 1 and 86400 seconds")]
    Period,
}

/// Decode base32 the way authenticator apps write it: any case, spaces, dashes and
/// trailing padding tolerated.
pub fn decode_base32(text: &str) -> Result<Zeroizing<Vec<u8>>, TotpError> {
    let clean: Zeroizing<String> = Zeroizing::new(
        text.chars()
            .filter(|c| !matches!(c, ' ' | '-' | '\t'))
            .map(|c| c.to_ascii_uppercase())
            .collect(),
    );
    let trimmed = clean.trim_end_matches('=');
    if trimmed.is_empty()
        || !trimmed
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    {
        return Err(TotpError::Base32);
    }
    let secret = Secret::try_from_base32(trimmed).map_err(|_| TotpError::Base32)?;
    let bytes = Zeroizing::new(secret.as_bytes().to_vec());
    if bytes.is_empty() {
        return Err(TotpError::Base32);
    }
    Ok(bytes)
}

/// Base32 (RFC 4648, no padding) of a seed, for an `otpauth://` URI.
pub fn encode_base32(seed: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(Secret::from(seed.to_vec()).to_base32())
}

fn percent_decode(s: &str) -> Result<Zeroizing<String>, TotpError> {
    let b = s.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(b.len()));
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3).ok_or(TotpError::Uri)?;
                let hex = std::str::from_utf8(hex).map_err(|_| TotpError::Uri)?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| TotpError::Uri)?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(std::mem::take(&mut *out))
        .map(Zeroizing::new)
        .map_err(|_| TotpError::Uri)
}

fn check(params: TotpParams) -> Result<TotpParams, TotpError> {
    if !(6..=8).contains(&params.digits) {
        return Err(TotpError::Digits);
    }
    if !(1..=86_400).contains(&params.period) {
        return Err(TotpError::Period);
    }
    Ok(params)
}

/// Parse a seed as typed by a user: an `otpauth://totp/...` URI or bare base32.
pub fn parse_seed(input: &[u8]) -> Result<(Zeroizing<Vec<u8>>, TotpParams), TotpError> {
    let text = std::str::from_utf8(input)
        .map_err(|_| TotpError::Base32)?
        .trim();
    let lower_prefix = text.get(..10).map(str::to_ascii_lowercase);
    if lower_prefix.as_deref() != Some("otpauth://") {
        return Ok((decode_base32(text)?, TotpParams::default()));
    }
    let rest = &text[10..];
    let (kind, rest) = rest.split_once('/').ok_or(TotpError::Uri)?;
    if !kind.eq_ignore_ascii_case("totp") {
        return Err(TotpError::Uri);
    }
    let (_label, query) = rest.split_once('?').ok_or(TotpError::Uri)?;
    let mut params = TotpParams::default();
    let mut seed = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or(TotpError::Uri)?;
        let value = percent_decode(value)?;
        match key.to_ascii_lowercase().as_str() {
            "secret" => seed = Some(decode_base32(&value)?),
            "algorithm" => {
                params.algorithm = match value.to_ascii_uppercase().replace('-', "").as_str() {
                    "SHA1" => TotpAlgorithm::Sha1,
                    "SHA256" => TotpAlgorithm::Sha256,
                    "SHA512" => TotpAlgorithm::Sha512,
                    _ => return Err(TotpError::Algorithm),
                }
            }
            "digits" => params.digits = value.parse().map_err(|_| TotpError::Digits)?,
            "period" => params.period = value.parse().map_err(|_| TotpError::Period)?,
            _ => {}
        }
    }
    let seed = seed.ok_or(TotpError::Uri)?;
    Ok((seed, check(params)?))
}

fn generator(seed: &[u8], params: TotpParams) -> totp_rs::Totp {
    let algorithm = match params.algorithm {
        TotpAlgorithm::Sha1 => Algorithm::SHA1,
        TotpAlgorithm::Sha256 => Algorithm::SHA256,
        TotpAlgorithm::Sha512 => Algorithm::SHA512,
    };
    // Non-compliant build: seeds shorter than 128 bits are accepted, as oathtool does.
    Builder::new()
        .with_algorithm(algorithm)
        .with_digits(params.digits)
        .with_step_duration(params.period.max(1))
        .with_secret(Secret::from(seed.to_vec()))
        .build_noncompliant()
}

/// The code for Unix time `time`.
pub fn code_at(seed: &[u8], params: TotpParams, time: u64) -> Zeroizing<String> {
    Zeroizing::new(generator(seed, params).generate(time).to_string())
}

/// The time step `time` falls in.
pub fn step(params: TotpParams, time: u64) -> u64 {
    time / params.period.max(1)
}

/// Seconds left in the step `time` falls in.
pub fn remaining(params: TotpParams, time: u64) -> u64 {
    let p = params.period.max(1);
    p - time % p
}

/// The step a typed code belongs to, allowing one step of clock skew either way; `None`
/// when it matches none. Comparison is constant-time per candidate.
pub fn verify(seed: &[u8], params: TotpParams, code: &str, time: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != usize::from(params.digits) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step(params, time);
    let mut found = None;
    // Steps whose start time does not fit in a u64 (only at absurd times) are skipped.
    let candidates = [now.checked_sub(1), Some(now), now.checked_add(1)];
    for s in candidates.into_iter().flatten() {
        let Some(at) = s.checked_mul(params.period.max(1)) else {
            continue;
        };
        let candidate = code_at(seed, params, at);
        let same = candidate
            .bytes()
            .zip(code.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        if same && found.is_none() {
            found = Some(s);
        }
    }
    found
}

/// What a typed code does to the replay floor `last` (the step of the last accepted code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    /// A valid code newer than the floor: the floor moves up to this step.
    Fresh(u64),
    /// A valid code while the floor lies beyond this clock's window: the clock was set back
    /// since that code was accepted (it had jumped forward then, or jumps back now). Without
    /// this every valid code would fail until real time caught up, locking the user out of
    /// `unlock` and `2fa disable`; the current window is accepted again, the floor moves back
    /// to this step, and the caller audits it.
    AfterClockSetBack(u64),
    /// A valid code at or below the floor: already used.
    Replayed,
    /// No step of the window matches.
    Wrong,
}

/// Judge a typed code at `time` against the floor `last`.
pub fn accept(seed: &[u8], params: TotpParams, code: &str, time: u64, last: u64) -> Acceptance {
    let Some(found) = verify(seed, params, code, time) else {
        return Acceptance::Wrong;
    };
    // The window reaches one step ahead; a floor beyond that was set by a clock ahead of
    // this one.
    let window_end = step(params, time).saturating_add(1);
    if last > window_end {
        Acceptance::AfterClockSetBack(found)
    } else if found > last {
        Acceptance::Fresh(found)
    } else {
        Acceptance::Replayed
    }
}

/// The `otpauth://` URI an authenticator app imports. The label and issuer are
/// percent-encoded (every byte outside RFC 3986's unreserved set), so a `:`, `?`, `&` or
/// space in them cannot change the URI's structure.
pub fn uri(seed: &[u8], params: TotpParams, issuer: &str, account: &str) -> Zeroizing<String> {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const KEEP: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let issuer = utf8_percent_encode(issuer, KEEP).to_string();
    let account = utf8_percent_encode(account, KEEP).to_string();
    Zeroizing::new(format!(
        "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm={}&digits={}&period={}",
        encode_base32(seed).as_str(),
        params.algorithm.as_str(),
        params.digits,
        params.period
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The issue's lockout: the clock jumps a day ahead, a code of that clock is accepted
    /// (the floor moves a day ahead), the clock is corrected. The current code must open
    /// again, once; a replay of it, and a wrong code, still fail.
    #[test]
    fn parameters_read_from_bytes_are_checked() {
        let ok: TotpParams =
            serde_json::from_str(r#"{"algorithm":"SHA256","digits":8,"period":60}"#).unwrap();
        assert_eq!((ok.digits, ok.period), (8, 60));
        for bad in [
            r#"{"algorithm":"SHA1","digits":10,"period":30}"#,
            r#"{"algorithm":"SHA1","digits":5,"period":30}"#,
            r#"{"algorithm":"SHA1","digits":6,"period":0}"#,
        ] {
            assert!(serde_json::from_str::<TotpParams>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_clock_set_back_after_a_forward_jump_does_not_lock_the_user_out() {
        let seed = b"12345678901234567890".as_slice();
        let params = TotpParams::default();
        let real = 1_800_000_000u64;
        let jumped = real + 86_400;
        let ahead = code_at(seed, params, jumped);
        let Acceptance::Fresh(floor) = accept(seed, params, &ahead, jumped, 0) else {
            panic!("a code of the jumped clock is accepted by it");
        };
        let now = code_at(seed, params, real);
        // Before this fix: `Replayed` (the floor is a day ahead), for a day.
        let back = accept(seed, params, &now, real, floor);
        assert_eq!(back, Acceptance::AfterClockSetBack(step(params, real)));
        let Acceptance::AfterClockSetBack(floor) = back else {
            unreachable!()
        };
        assert_eq!(
            accept(seed, params, &now, real, floor),
            Acceptance::Replayed
        );
        assert_eq!(
            accept(seed, params, "000000", real, floor),
            Acceptance::Wrong
        );
        let next = code_at(seed, params, real + 30);
        assert!(matches!(
            accept(seed, params, &next, real + 30, floor),
            Acceptance::Fresh(_)
        ));
    }

    /// Within the window's one step of skew nothing is reset: a used code stays used.
    #[test]
    fn a_code_used_within_the_window_stays_used() {
        let seed = b"12345678901234567890".as_slice();
        let params = TotpParams::default();
        let t = 1_800_000_000u64;
        let code = code_at(seed, params, t);
        let Acceptance::Fresh(floor) = accept(seed, params, &code, t, 0) else {
            panic!("fresh");
        };
        assert_eq!(accept(seed, params, &code, t, floor), Acceptance::Replayed);
        // The floor one step ahead (a code of the next step was used): still no reset.
        assert_eq!(
            accept(seed, params, &code, t, floor + 1),
            Acceptance::Replayed
        );
    }

    /// At the far end of time, the neighbouring steps overflow: they are skipped, nothing
    /// panics.
    #[test]
    fn verify_survives_extreme_times() {
        let seed = b"12345678901234567890".as_slice();
        let params = TotpParams::default();
        for time in [u64::MAX, u64::MAX - 1, u64::MAX - 30, 0] {
            let _ = verify(seed, params, "000000", time);
        }
    }

    /// Label and issuer cannot break out of their places in the URI.
    #[test]
    fn uri_labels_are_percent_encoded() {
        let seed = b"12345678901234567890".as_slice();
        let u = uri(seed, TotpParams::default(), "my co?x=1", "me:you&secret=A");
        assert!(
            u.starts_with("otpauth://totp/my%20co%3Fx%3D1:me%3Ayou%26secret%3DA?secret="),
            "{}",
            u.as_str()
        );
        assert_eq!(u.matches("secret=").count(), 1, "{}", u.as_str());
    }

    /// RFC 6238 Appendix B: the seeds are the ASCII strings below, one per algorithm.
    #[test]
    fn rfc6238_vectors() {
        let sha1 = b"12345678901234567890".as_slice();
        let sha256 = b"12345678901234567890123456789012".as_slice();
        let sha512 = b"1234567890123456789012345678901234567890123456789012345678901234".as_slice();
        let vectors: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for (t, c1, c256, c512) in vectors {
            let p = |algorithm| TotpParams {
                algorithm,
                digits: 8,
                period: 30,
            };
            assert_eq!(code_at(sha1, p(TotpAlgorithm::Sha1), t).as_str(), c1);
            assert_eq!(code_at(sha256, p(TotpAlgorithm::Sha256), t).as_str(), c256);
            assert_eq!(code_at(sha512, p(TotpAlgorithm::Sha512), t).as_str(), c512);
        }
    }

    #[test]
    fn parses_base32_and_uris() {
        let (seed, p) = parse_seed(b"gezd gnbv gy3t qojq").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(seed.as_slice(), b"1234567890");
        assert_eq!(p, TotpParams::default());
        let uri = b"otpauth://totp/Ex:alice?secret=GEZDGNBVGY3TQOJQ&algorithm=SHA512&digits=8&period=60&issuer=Ex";
        let (seed, p) = parse_seed(uri).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(seed.as_slice(), b"1234567890");
        assert_eq!(
            p,
            TotpParams {
                algorithm: TotpAlgorithm::Sha512,
                digits: 8,
                period: 60
            }
        );
        let back = super::uri(&seed, p, "kovra", "vault");
        assert_eq!(
            parse_seed(back.as_bytes()).map(|(s, q)| (s.to_vec(), q)),
            Ok((b"1234567890".to_vec(), p))
        );
    }

    #[test]
    fn refuses_bad_input() {
        let cases: [(&[u8], TotpError); 9] = [
            (b"not base32!", TotpError::Base32),
            (b"", TotpError::Base32),
            (b"GEZDGNBV1", TotpError::Base32),
            (b"otpauth://hotp/x?secret=GEZDGNBV", TotpError::Uri),
            (b"otpauth://totp/x", TotpError::Uri),
            (b"otpauth://totp/x?digits=6", TotpError::Uri),
            (
                b"otpauth://totp/x?secret=GEZDGNBV&algorithm=MD5",
                TotpError::Algorithm,
            ),
            (
                b"otpauth://totp/x?secret=GEZDGNBV&digits=9",
                TotpError::Digits,
            ),
            (
                b"otpauth://totp/x?secret=GEZDGNBV&period=0",
                TotpError::Period,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse_seed(input).err(), Some(want), "{input:?}");
        }
    }

    #[test]
    fn verify_accepts_one_step_of_skew_and_nothing_else() {
        let seed = b"12345678901234567890";
        let p = TotpParams::default();
        let t = 1_000_000_020;
        let now = code_at(seed, p, t);
        assert_eq!(verify(seed, p, &now, t), Some(step(p, t)));
        let prev = code_at(seed, p, t - 30);
        assert_eq!(verify(seed, p, &prev, t), Some(step(p, t) - 1));
        let old = code_at(seed, p, t - 90);
        assert_eq!(verify(seed, p, &old, t), None);
        assert_eq!(verify(seed, p, "12345", t), None);
        assert_eq!(verify(seed, p, "abcdef", t), None);
    }
}
