//! `kovra_redact`: the differential target. The streamed output must equal the one-shot
//! output, and no value may survive in any encoding the redactor knows.

use kovra_redact::{MIN_VALUE_LEN, Redactor, forms};

use crate::bytes::{Bytes, Rng, occurrences};

const NAMES: [&str; 4] = ["API_KEY", "DB_PASSWORD", "T0KEN", "X"];
/// Inputs beyond this add time, not coverage.
const MAX_INPUT: usize = 4 * 1024;

/// The input is a plan: up to three values (some shorter than `MIN_VALUE_LEN`, which are
/// not masked) with names, then pieces of a stream: raw bytes, a value in one of its
/// encodings, a cut-off encoding, or a marker's text. A seed picks how the stream is split.
///
/// Asserted:
/// - `Stream::push` in those splits (every other piece read into the window with `spare`
///   and `commit` instead), then `finish`, equals `redact_all` of the whole, and the
///   held-back tail is always shorter than the longest pattern;
/// - with nothing to mask, the output is the input;
/// - every occurrence, in the output, of any encoding of a masked value overlaps the text of
///   a marker. That is the most that holds: a marker may itself contain a value (a value
///   `kovra:` or `_KEY]`), and a value may straddle a marker and the text beside it
///   (`]abcdef` after `[kovra:X]`). Markers typed in the input count as markers here, so
///   the check is weaker, never wrong, for inputs that contain them. Any occurrence not
///   touching a marker lies wholly in text the redactor passed through, which
///   leftmost-longest matching forbids.
pub fn redactor(data: &[u8]) {
    let mut b = Bytes::new(data);
    let count = 1 + usize::from(b.byte() % 3);
    let mut values: Vec<(&str, &[u8])> = Vec::new();
    for _ in 0..count {
        let name = NAMES[usize::from(b.byte()) % NAMES.len()];
        let len = usize::from(b.byte() % 72);
        values.push((name, b.take(len)));
    }
    let mut rng = Rng::new(b.byte());
    let encodings: Vec<Vec<Vec<u8>>> = values
        .iter()
        .map(|(_, v)| forms(v).iter().map(|f| f.to_vec()).collect())
        .collect();
    let mut input = Vec::new();
    while !b.is_empty() && input.len() < MAX_INPUT {
        let op = b.byte();
        let which = &encodings[usize::from(op / 8) % count];
        let form = (!which.is_empty()).then(|| &which[usize::from(b.byte()) % which.len()]);
        match (op % 8, form) {
            (0..=2, _) | (_, None) => {
                let n = usize::from(b.byte() % 64);
                input.extend_from_slice(b.take(n));
            }
            (3..=5, Some(f)) => input.extend_from_slice(f),
            (6, Some(f)) => {
                let cut = usize::from(b.byte()) % f.len();
                if op & 0x80 == 0 {
                    input.extend_from_slice(&f[..cut]);
                } else {
                    input.extend_from_slice(&f[cut..]);
                }
            }
            (_, Some(_)) => {
                let name = values[usize::from(op / 8) % count].0;
                input.extend_from_slice(format!("[kovra:{name}]").as_bytes());
            }
        }
    }

    let redactor = Redactor::new(values.iter().copied());
    let whole = redactor.redact_all(&input);

    let masked: Vec<usize> = (0..count)
        .filter(|&i| values[i].1.len() >= MIN_VALUE_LEN)
        .collect();
    let longest = masked
        .iter()
        .flat_map(|&i| encodings[i].iter().map(Vec::len))
        .max()
        .unwrap_or(0);

    let mut streamed = Vec::new();
    let mut stream = redactor.stream();
    let mut rest = input.as_slice();
    let mut scratch = Vec::new();
    let mut odd = false;
    while !rest.is_empty() {
        let n = match rng.below(4) {
            0 => 0,
            1 => 1 + rng.below(3),
            2 => 1 + rng.below(longest + 2),
            _ => 1 + rng.below(4096),
        }
        .min(rest.len());
        let (piece, tail) = rest.split_at(n);
        // Every other piece is read into the stream's window, as the daemon's relay does.
        if odd {
            stream.spare(piece.len()).copy_from_slice(piece);
            streamed.extend_from_slice(stream.commit(piece.len(), &mut scratch));
        } else {
            stream.push(piece, &mut streamed);
        }
        odd = !odd;
        rest = tail;
        assert!(
            stream.held() < longest.max(1),
            "held {} bytes, the longest pattern is {longest}",
            stream.held()
        );
    }
    stream.finish(&mut streamed);
    assert!(
        streamed == whole,
        "streamed output differs from redact_all (input {} bytes)",
        input.len()
    );

    if masked.is_empty() {
        assert!(redactor.is_empty() && whole == input, "nothing to mask");
        return;
    }
    let mut marker_spans: Vec<(usize, usize)> = Vec::new();
    for name in NAMES {
        let marker = format!("[kovra:{name}]");
        for at in occurrences(&whole, marker.as_bytes()) {
            marker_spans.push((at, at + marker.len()));
        }
    }
    for &i in &masked {
        for form in &encodings[i] {
            for at in occurrences(&whole, form) {
                let end = at + form.len();
                assert!(
                    marker_spans.iter().any(|&(a, z)| a < end && at < z),
                    "value {i} survives in an encoding at byte {at} of the output"
                );
            }
        }
    }
}
