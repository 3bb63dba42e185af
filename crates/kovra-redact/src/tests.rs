use base64::Engine;
use proptest::prelude::*;

use super::*;

const SECRET: &[u8] = b"s3cr3t/Value+with spaces&\"quotes\"";

fn redactor() -> Redactor {
    Redactor::new([("DB_PASSWORD", SECRET)])
}

fn leaks(out: &[u8]) -> bool {
    forms(SECRET)
        .iter()
        .any(|f| out.windows(f.len()).any(|w| w == f.as_slice()))
}

#[test]
fn masks_every_encoding() {
    let r = redactor();
    let b64 = base64::engine::general_purpose::STANDARD.encode(SECRET);
    let b64url = base64::engine::general_purpose::URL_SAFE.encode(SECRET);
    let hex_lower: String = SECRET.iter().map(|b| format!("{b:02x}")).collect();
    let json = "s3cr3t/Value+with spaces&\\\"quotes\\\"";
    let url = "s3cr3t%2FValue%2Bwith%20spaces%26%22quotes%22";
    for text in [
        String::from_utf8(SECRET.to_vec()).unwrap(),
        b64,
        b64url,
        hex_lower.clone(),
        hex_lower.to_uppercase(),
        json.to_string(),
        url.to_string(),
        "s3cr3t%2fValue%2bwith%20spaces%26%22quotes%22".to_string(),
        "s3cr3t%2FValue%2Bwith+spaces%26%22quotes%22".to_string(),
    ] {
        let out = r.redact_all(format!("before {text} after").as_bytes());
        let shown = String::from_utf8_lossy(&out);
        assert!(
            shown.contains("[kovra:DB_PASSWORD]"),
            "not masked: {text} -> {shown}"
        );
        assert!(!leaks(&out), "leaked in {shown}");
    }
}

#[test]
fn masks_base64_inside_a_longer_encoded_run() {
    let r = redactor();
    for prefix in [b"".as_slice(), b"x", b"xy", b"xyz"] {
        let mut data = prefix.to_vec();
        data.extend_from_slice(SECRET);
        data.extend_from_slice(b"tail");
        let text = base64::engine::general_purpose::STANDARD.encode(&data);
        let out = String::from_utf8(r.redact_all(text.as_bytes())).unwrap();
        assert!(
            out.contains("[kovra:DB_PASSWORD]"),
            "prefix {prefix:?}: {out}"
        );
    }
}

#[test]
fn short_values_are_not_masked() {
    let r = Redactor::new([("PIN", b"1234".as_slice())]);
    assert!(r.is_empty());
    assert_eq!(r.redact_all(b"pin 1234"), b"pin 1234");
}

#[test]
fn holds_back_only_a_possible_prefix() {
    let r = redactor();
    let mut s = r.stream();
    let mut out = Vec::new();
    s.push(b"prompt> ", &mut out);
    assert_eq!(
        out, b"prompt> ",
        "text that cannot start a match is not held"
    );
    s.push(b"s3cr3t/Va", &mut out);
    assert_eq!(s.held(), 9);
    s.push(b"lue+with spaces&\"quotes\" done", &mut out);
    s.finish(&mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "prompt> [kovra:DB_PASSWORD] done"
    );
}

/// `data` pushed through a stream in reads cut at `cuts` (taken modulo its length).
fn streamed(r: &Redactor, data: &[u8], cuts: Vec<usize>) -> Vec<u8> {
    let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (data.len() + 1)).collect();
    cuts.sort();
    let mut s = r.stream();
    let mut out = Vec::new();
    let mut last = 0;
    for c in cuts {
        s.push(&data[last..c], &mut out);
        last = c;
    }
    s.push(&data[last..], &mut out);
    s.finish(&mut out);
    out
}

proptest! {
    /// However the stream is cut into reads, the output is the same as redacting it whole,
    /// and no encoded form of the value survives.
    #[test]
    fn split_reads_change_nothing(
        noise_a in proptest::collection::vec(any::<u8>(), 0..64),
        noise_b in proptest::collection::vec(any::<u8>(), 0..64),
        cuts in proptest::collection::vec(0usize..200, 0..8),
        which in 0usize..4,
    ) {
        let r = redactor();
        let encoded = forms(SECRET)[which % forms(SECRET).len()].to_vec();
        let mut data = noise_a.clone();
        data.extend_from_slice(&encoded);
        data.extend_from_slice(&noise_b);
        let whole = r.redact_all(&data);
        let out = streamed(&r, &data, cuts);
        prop_assert_eq!(&out, &whole);
        prop_assert!(!leaks(&out));
    }
}

/// The whole-buffer matcher without the pre-filter: what the pre-filter must agree with.
fn reference(r: &Redactor, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut cursor = 0;
    if let Some(m) = &r.matcher {
        for found in m.find_iter(data) {
            out.extend_from_slice(&data[cursor..found.start()]);
            out.extend_from_slice(&r.markers[r.pattern_marker[found.pattern().as_usize()]]);
            cursor = found.end();
        }
    }
    out.extend_from_slice(&data[cursor..]);
    out
}

proptest! {
    /// Skimming with the sampled pre-filter finds exactly what a full scan finds, wherever
    /// the occurrences sit and however they overlap.
    #[test]
    fn prefilter_agrees_with_a_full_scan(
        values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 16..40), 1..6),
        noise in proptest::collection::vec(any::<u8>(), 0..3000),
        inserts in proptest::collection::vec((any::<usize>(), any::<usize>(), any::<usize>()), 0..12),
    ) {
        let named: Vec<(String, Vec<u8>)> =
            values.iter().enumerate().map(|(i, v)| (format!("V{i}"), v.clone())).collect();
        let r = Redactor::new(named.iter().map(|(n, v)| (n.as_str(), v.as_slice())));
        prop_assert!(r.prefilter.is_some());
        let mut data = noise.clone();
        for (which, form, at) in inserts {
            let v = &values[which % values.len()];
            let forms = forms(v);
            let f = &forms[form % forms.len()];
            let at = at % (data.len() + 1);
            data.splice(at..at, f.iter().copied());
        }
        prop_assert_eq!(r.redact_all(&data), reference(&r, &data));
    }
}

/// A value that is also the start of another, at the very end of a stream: the held tail
/// must be masked at `finish`, not printed (`printf 'my-%s' "$A"` with A and B = my-A-2).
#[test]
fn the_end_of_a_stream_is_masked_too() {
    let r = Redactor::new([
        ("A", b"hunter2-token".as_slice()),
        ("B", b"my-hunter2-token-2".as_slice()),
    ]);
    let mut s = r.stream();
    let mut out = Vec::new();
    s.push(b"my-hunter2-token", &mut out);
    s.finish(&mut out);
    assert_eq!(String::from_utf8(out).unwrap(), "my-[kovra:A]");
}

/// A read that ends right after the shorter of two values, one the prefix of the other: the
/// longer one must still be found whole once the next read comes.
#[test]
fn a_value_that_starts_another_is_held_until_the_longer_one_is_decided() {
    let r = Redactor::new([
        ("A", b"abcdef12".as_slice()),
        ("B", b"abcdef12-SUFFIX-OF-B".as_slice()),
    ]);
    let mut s = r.stream();
    let mut out = Vec::new();
    s.push(b"x=abcdef12", &mut out);
    s.push(b"-SUFFIX-OF-B!", &mut out);
    s.finish(&mut out);
    assert_eq!(String::from_utf8(out).unwrap(), "x=[kovra:B]!");
}

proptest! {
    /// Values that are prefixes of one another (and base64 with and without padding), cut
    /// into reads anywhere: the stream gives exactly what the whole-buffer matcher gives,
    /// and no value is left in clear.
    #[test]
    fn streamed_equals_whole_buffer_for_prefix_values(
        stem in proptest::collection::vec(b'a'..=b'z', 8..16),
        ext in proptest::collection::vec(b'a'..=b'z', 1..8),
        noise in proptest::collection::vec(b' '..=b'~', 0..40),
        pick in proptest::collection::vec((0usize..2, 0usize..8, 0usize..64), 1..5),
        cuts in proptest::collection::vec(0usize..400, 0..10),
    ) {
        let short = stem.clone();
        let mut long = stem.clone();
        long.extend_from_slice(&ext);
        let r = Redactor::new([("SHORT", short.as_slice()), ("LONG", long.as_slice())]);
        let mut data = noise.clone();
        for (which, form, at) in pick {
            let v = if which == 0 { &short } else { &long };
            let forms = forms(v);
            let f = &forms[form % forms.len()];
            let at = at % (data.len() + 1);
            data.splice(at..at, f.iter().copied());
        }
        let whole = reference(&r, &data);
        let out = streamed(&r, &data, cuts);
        prop_assert_eq!(&out, &whole);
        prop_assert_eq!(r.redact_all(&data), whole);
    }
}

/// `data` read into the stream's own window in pieces cut at `cuts`, as a relay reads.
fn read_in_place(r: &Redactor, data: &[u8], cuts: Vec<usize>) -> Vec<u8> {
    let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (data.len() + 1)).collect();
    cuts.sort();
    cuts.push(data.len());
    let mut s = r.stream();
    let mut out = Vec::new();
    let mut scratch = Vec::new();
    let mut last = 0;
    for c in cuts {
        let piece = &data[last..c];
        s.spare(piece.len()).copy_from_slice(piece);
        out.extend_from_slice(s.commit(piece.len(), &mut scratch));
        last = c;
    }
    s.finish(&mut out);
    out
}

proptest! {
    /// Reading into the window gives what pushing gives, and what redacting whole gives.
    #[test]
    fn reading_in_place_equals_pushing(
        stem in proptest::collection::vec(b'a'..=b'z', 8..20),
        noise in proptest::collection::vec(b' '..=b'~', 0..200),
        pick in proptest::collection::vec((0usize..16, 0usize..256), 0..5),
        cuts in proptest::collection::vec(0usize..600, 0..10),
    ) {
        let r = Redactor::new([("V", stem.as_slice())]);
        let mut data = noise.clone();
        for (form, at) in pick {
            let forms = forms(&stem);
            let f = &forms[form % forms.len()];
            let at = at % (data.len() + 1);
            data.splice(at..at, f.iter().copied());
        }
        let whole = r.redact_all(&data);
        prop_assert_eq!(&read_in_place(&r, &data, cuts.clone()), &whole);
        prop_assert_eq!(&streamed(&r, &data, cuts), &whole);
    }
}

#[test]
fn an_empty_redactor_passes_reads_through() {
    let r = Redactor::new([("PIN", b"1234".as_slice())]);
    assert_eq!(
        read_in_place(&r, b"pin 1234 and more", vec![3, 9]),
        b"pin 1234 and more"
    );
}

#[test]
fn find_reports_where_each_value_or_encoding_sits_and_its_name() {
    use base64::Engine;
    let r = Redactor::new([
        ("secret:dev/a/one", &b"value-one-123"[..]),
        ("B", b"another-value"),
    ]);
    let b64 = base64::engine::general_purpose::STANDARD.encode(b"another-value");
    let text = format!("x value-one-123 y {b64} z");
    let found = r.find(text.as_bytes());
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].name, "secret:dev/a/one");
    assert_eq!(&text[found[0].start..found[0].end], "value-one-123");
    assert_eq!(found[1].name, "B");
    assert_eq!(&text[found[1].start..found[1].end], b64);
    assert!(r.find(b"nothing here").is_empty());
    // Many candidates (the prefilter's path) give the same answer.
    let values: Vec<(String, Vec<u8>)> = (0..200)
        .map(|i| {
            (
                format!("V{i}"),
                format!("pattern-number-{i:04}").into_bytes(),
            )
        })
        .collect();
    let r = Redactor::new(values.iter().map(|(n, v)| (n.as_str(), v.as_slice())));
    let text = "aa pattern-number-0042 bb pattern-number-0199";
    let names: Vec<&str> = r.find(text.as_bytes()).iter().map(|f| f.name).collect();
    assert_eq!(names, ["V42", "V199"]);
}
