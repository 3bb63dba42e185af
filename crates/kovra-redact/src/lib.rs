//! Streaming redaction: every occurrence of a known value, or of its common encodings, in
//! a byte stream is replaced by a marker naming the variable (`[kovra:DB_PASSWORD]`).
//!
//! This is a safety net, not a boundary: a program holding a value can always transform it
//! in a way no list of encodings foresees. Values shorter than [`MIN_VALUE_LEN`] bytes are
//! not masked (masking them would shred ordinary output).
//!
//! Streaming is exact across read boundaries: only a tail that could still become a match
//! (a prefix of some pattern) is held back, so output is never delayed by more than the
//! longest pattern, and an idle child never has its complete output stuck.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod encodings;
mod prefilter;

use std::ops::Deref;

use aho_corasick::{AhoCorasick, AhoCorasickKind, Input, MatchKind};
use zeroize::Zeroizing;

pub use encodings::forms;

/// Values shorter than this are not masked.
pub const MIN_VALUE_LEN: usize = 6;

/// The compiled patterns for a set of named values.
pub struct Redactor {
    matcher: Option<AhoCorasick>,
    /// For each pattern, the index of the marker it maps to.
    pattern_marker: Vec<usize>,
    markers: Vec<Vec<u8>>,
    /// Every pattern, sorted, for the "could this tail still become a match" check.
    sorted: Vec<Zeroizing<Vec<u8>>>,
    max_len: usize,
    prefilter: Option<prefilter::Prefilter>,
}

impl Redactor {
    /// Build from `(name, value)` pairs. Values under [`MIN_VALUE_LEN`] bytes are skipped.
    pub fn new<'a>(values: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Redactor {
        let mut patterns: Vec<(Zeroizing<Vec<u8>>, usize)> = Vec::new();
        let mut markers = Vec::new();
        for (name, value) in values {
            if value.len() < MIN_VALUE_LEN {
                continue;
            }
            let marker = markers.len();
            markers.push(format!("[kovra:{name}]").into_bytes());
            for form in encodings::forms(value) {
                patterns.push((form, marker));
            }
        }
        // One pattern, one marker: on a collision the first name wins.
        patterns.sort_by(|a, b| a.0.as_slice().cmp(b.0.as_slice()));
        patterns.dedup_by(|a, b| a.0.as_slice() == b.0.as_slice());
        let max_len = patterns.iter().map(|(p, _)| p.len()).max().unwrap_or(0);
        let matcher = if patterns.is_empty() {
            None
        } else {
            // The pre-filter does the skimming; the NFA only confirms candidates, and is
            // cheap to build (a run starts faster).
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .build(patterns.iter().map(|(p, _)| p.as_slice()))
                .ok()
        };
        let prefilter = prefilter::Prefilter::new(patterns.iter().map(|(p, _)| p.as_slice()));
        let pattern_marker = patterns.iter().map(|(_, m)| *m).collect();
        let sorted = patterns.into_iter().map(|(p, _)| p).collect();
        Redactor {
            matcher,
            pattern_marker,
            markers,
            sorted,
            max_len,
            prefilter,
        }
    }

    /// Whether there is anything to mask at all.
    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    /// The number of patterns (values times their encodings).
    pub fn pattern_count(&self) -> usize {
        self.sorted.len()
    }

    /// A fresh stream state; one per output stream.
    pub fn stream(&self) -> Stream<&Redactor> {
        Stream::over(self)
    }

    /// Redact a complete buffer at once.
    pub fn redact_all(&self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len());
        let mut s = self.stream();
        s.push(input, &mut out);
        s.finish(&mut out);
        out
    }

    /// Every occurrence of a known value (or an encoding of one) in `input`, leftmost-longest
    /// and not overlapping: where it is and the name it was built with. For scans that report
    /// where a value sits (a pre-commit hook, a prompt), never what it is.
    pub fn find(&self, input: &[u8]) -> Vec<Found<'_>> {
        let Some(matcher) = &self.matcher else {
            return Vec::new();
        };
        let mut found = Vec::new();
        let mut push = |m: aho_corasick::Match| {
            let marker = &self.markers[self.pattern_marker[m.pattern().as_usize()]];
            found.push(Found {
                start: m.start(),
                end: m.end(),
                // The marker is `[kovra:NAME]`, built from UTF-8 in `new`.
                name: std::str::from_utf8(&marker[7..marker.len() - 1]).unwrap_or("?"),
            });
        };
        match &self.prefilter {
            None => matcher.find_iter(input).for_each(&mut push),
            Some(pf) => {
                let mut regions = Vec::new();
                pf.candidates(input, self.max_len, &mut regions);
                for &(a, b) in &regions {
                    matcher
                        .find_iter(Input::new(input).span(a..b))
                        .for_each(&mut push);
                }
            }
        }
        found
    }

    /// Whether `tail` is a proper prefix of some pattern (so it may still become a match,
    /// or a longer one than it already is). Patterns starting with `tail` sort together
    /// from its position; the first may be `tail` itself, a complete match that a longer
    /// pattern still extends.
    fn is_partial(&self, tail: &[u8]) -> bool {
        let i = self.sorted.partition_point(|p| p.as_slice() < tail);
        self.sorted[i..]
            .iter()
            .take_while(|p| p.starts_with(tail))
            .any(|p| p.len() > tail.len())
    }

    /// Append `buf` to `out` up to the last match that starts before `hold`, each match
    /// replaced by its marker. Returns how far `buf` was consumed.
    fn replace_matches(
        &self,
        buf: &[u8],
        hold: usize,
        regions: &mut Vec<(usize, usize)>,
        out: &mut Vec<u8>,
    ) -> usize {
        let Some(matcher) = &self.matcher else {
            return 0;
        };
        let mut cursor = 0;
        let mut emit = |start: usize, end: usize, pattern: usize, out: &mut Vec<u8>| {
            out.extend_from_slice(&buf[cursor..start]);
            out.extend_from_slice(&self.markers[self.pattern_marker[pattern]]);
            cursor = end;
        };
        match &self.prefilter {
            None => {
                for m in matcher.find_iter(buf) {
                    if m.start() >= hold {
                        break;
                    }
                    emit(m.start(), m.end(), m.pattern().as_usize(), out);
                }
            }
            Some(pf) => {
                pf.candidates(buf, self.max_len, regions);
                'regions: for &(a, b) in regions.iter() {
                    for m in matcher.find_iter(Input::new(buf).span(a..b)) {
                        if m.start() >= hold {
                            break 'regions;
                        }
                        emit(m.start(), m.end(), m.pattern().as_usize(), out);
                    }
                }
            }
        }
        cursor
    }

    /// Where the longest suffix of `buf` that could still grow into a match begins.
    fn hold_from(&self, buf: &[u8]) -> usize {
        let earliest = buf.len().saturating_sub(self.max_len.saturating_sub(1));
        (earliest..buf.len())
            .find(|&i| self.is_partial(&buf[i..]))
            .unwrap_or(buf.len())
    }
}

/// One occurrence [`Redactor::find`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<'a> {
    pub start: usize,
    pub end: usize,
    /// The name the value was given to [`Redactor::new`].
    pub name: &'a str,
}

/// One output stream's redaction state: the held-back tail.
/// The stream state over a redactor held as `R` (a reference, or an `Arc` where the stream
/// must own its redactor, as a response body polled by an async runtime does).
///
/// Two ways to feed it: [`Stream::push`] takes bytes from anywhere; a reader instead reads
/// straight into [`Stream::spare`] (after the held-back tail) and calls [`Stream::commit`],
/// which spares a copy of every read, and of the output when nothing in it was masked.
pub struct Stream<R: Deref<Target = Redactor>> {
    redactor: R,
    /// `window[start..end]` is the held-back tail; a reader's bytes follow it. Reused, so a
    /// read allocates nothing.
    window: Zeroizing<Vec<u8>>,
    start: usize,
    end: usize,
    regions: Vec<(usize, usize)>,
}

impl<R: Deref<Target = Redactor>> Stream<R> {
    /// A fresh stream state over `redactor`.
    pub fn over(redactor: R) -> Self {
        Stream {
            redactor,
            window: Zeroizing::new(Vec::new()),
            start: 0,
            end: 0,
            regions: Vec::new(),
        }
    }

    /// Redact `input` (the next bytes of the stream), appending what is safe to emit now.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        if self.redactor.matcher.is_none() {
            out.extend_from_slice(input);
            return;
        }
        if self.start == self.end {
            // Nothing held: scan the input where it is.
            let redactor = &*self.redactor;
            let hold = redactor.hold_from(input);
            let cursor = redactor.replace_matches(input, hold, &mut self.regions, out);
            let keep_from = cursor.max(hold);
            out.extend_from_slice(&input[cursor..keep_from]);
            self.keep(input, keep_from);
            return;
        }
        self.spare(input.len()).copy_from_slice(input);
        if let Some(range) = self.take(input.len(), out) {
            out.extend_from_slice(&self.window[range]);
        }
    }

    /// Remember `buf[from..]` as the held-back tail.
    fn keep(&mut self, buf: &[u8], from: usize) {
        let tail = &buf[from..];
        if self.window.len() < tail.len() {
            self.regrow(tail.len());
        }
        self.window[..tail.len()].copy_from_slice(tail);
        self.start = 0;
        self.end = tail.len();
    }

    /// Make the window hold at least `len` bytes, wiping the old allocation.
    fn regrow(&mut self, len: usize) {
        let mut bigger = Zeroizing::new(vec![0u8; len]);
        bigger[..self.end - self.start].copy_from_slice(&self.window[self.start..self.end]);
        self.end -= self.start;
        self.start = 0;
        self.window = bigger;
    }

    /// Room for the next `n` bytes of the stream, right after the held-back tail: read into
    /// it, then [`Stream::commit`] how many bytes were read.
    pub fn spare(&mut self, n: usize) -> &mut [u8] {
        if self.start > 0 {
            self.window.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.window.len() < self.end + n {
            self.regrow(self.end + n);
        }
        &mut self.window[self.end..self.end + n]
    }

    /// Redact the `n` bytes just read into [`Stream::spare`]. Returns what is safe to emit
    /// now: a slice of the stream's own window when nothing was masked (no copy), else of
    /// `out` (cleared first).
    pub fn commit<'s>(&'s mut self, n: usize, out: &'s mut Vec<u8>) -> &'s [u8] {
        out.clear();
        match self.take(n, out) {
            Some(range) => &self.window[range],
            None => out,
        }
    }

    /// Redact the held tail and the `n` bytes after it. What is safe to emit is either
    /// appended to `out` (`None`), or, when nothing was masked, left in the window at the
    /// range returned.
    fn take(&mut self, n: usize, out: &mut Vec<u8>) -> Option<std::ops::Range<usize>> {
        let base = self.start;
        let end = self.end + n;
        self.end = end;
        let redactor = &*self.redactor;
        if redactor.matcher.is_none() {
            self.start = end;
            return Some(base..end);
        }
        let buf = &self.window[base..end];
        let hold = redactor.hold_from(buf);
        let before = out.len();
        let cursor = redactor.replace_matches(buf, hold, &mut self.regions, out);
        let keep_from = cursor.max(hold);
        self.start = base + keep_from;
        if cursor == 0 && out.len() == before {
            // Nothing masked: the output is the window itself.
            return Some(base..base + keep_from);
        }
        out.extend_from_slice(&self.window[base + cursor..base + keep_from]);
        None
    }

    /// End of stream: whatever is held back cannot grow any more, but it may hold complete
    /// matches (a value that was also the start of a longer one): mask those too.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let pending = &self.window[self.start..self.end];
        let cursor = self
            .redactor
            .replace_matches(pending, pending.len(), &mut self.regions, out);
        out.extend_from_slice(&pending[cursor..]);
        self.start = self.end;
    }

    /// Bytes currently held back.
    pub fn held(&self) -> usize {
        self.end - self.start
    }
}

#[cfg(test)]
mod tests;
