//! A cursor that turns the fuzzer's bytes into choices. Running out of bytes is not an
//! error: every read then yields zeros or nothing, so any input is a valid plan.

pub struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    pub fn rest(self) -> &'a [u8] {
        self.data
    }
}

/// A tiny deterministic generator (xorshift) for choices that need no bytes of their own.
pub struct Rng(u32);

impl Rng {
    pub fn new(seed: u8) -> Self {
        Rng(u32::from(seed).wrapping_mul(0x9E37_79B9) | 1)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        (self.0 as usize) % n.max(1)
    }
}

/// Where `needle` occurs in `hay` (overlapping occurrences included).
pub fn occurrences(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return Vec::new();
    }
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}
