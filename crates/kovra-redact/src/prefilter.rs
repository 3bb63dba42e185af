//! A sampled pre-filter that lets the full matcher skip text that cannot hold a pattern.
//!
//! Every pattern is at least `min_len` bytes long, so any occurrence fully covers at least
//! one 8-byte window starting at a multiple of `stride = min_len - 7`. Sampling only those
//! windows, and rejecting those whose 8 bytes are no 8-byte piece of any pattern, leaves
//! the automaton only the few regions around real candidates.

use std::collections::HashSet;

const GRAM: usize = 8;
const BITMAP_BITS: u32 = 22;
/// Below this the stride would be too short to gain anything over the full matcher.
pub const MIN_USEFUL_LEN: usize = GRAM + 8;

pub struct Prefilter {
    stride: usize,
    /// A fast, lossy membership test in front of the exact set.
    bitmap: Vec<u64>,
    grams: HashSet<u64>,
}

fn gram_at(bytes: &[u8], at: usize) -> u64 {
    let mut g = [0u8; GRAM];
    g.copy_from_slice(&bytes[at..at + GRAM]);
    u64::from_le_bytes(g)
}

fn slot(gram: u64) -> usize {
    (gram.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - BITMAP_BITS)) as usize
}

impl Prefilter {
    /// `None` when some pattern is too short for sampling to pay off.
    pub fn new<'a>(patterns: impl Iterator<Item = &'a [u8]> + Clone) -> Option<Prefilter> {
        let min_len = patterns.clone().map(<[u8]>::len).min()?;
        if min_len < MIN_USEFUL_LEN {
            return None;
        }
        let mut bitmap = vec![0u64; (1usize << BITMAP_BITS) / 64];
        let mut grams = HashSet::new();
        for p in patterns {
            for at in 0..=p.len() - GRAM {
                let g = gram_at(p, at);
                let s = slot(g);
                bitmap[s / 64] |= 1 << (s % 64);
                grams.insert(g);
            }
        }
        Some(Prefilter {
            stride: min_len - GRAM + 1,
            bitmap,
            grams,
        })
    }

    /// The regions of `hay` (merged, in order) that may contain an occurrence; anything
    /// outside them holds none. `reach` is the longest pattern's length.
    pub fn candidates(&self, hay: &[u8], reach: usize, out: &mut Vec<(usize, usize)>) {
        out.clear();
        if hay.len() < GRAM {
            out.push((0, hay.len()));
            return;
        }
        let mut at = 0;
        while at + GRAM <= hay.len() {
            let g = gram_at(hay, at);
            let s = slot(g);
            if self.bitmap[s / 64] & (1 << (s % 64)) != 0 && self.grams.contains(&g) {
                let start = at.saturating_sub(reach - GRAM);
                let end = (at + reach).min(hay.len());
                match out.last_mut() {
                    Some(last) if start <= last.1 => last.1 = last.1.max(end),
                    _ => out.push((start, end)),
                }
            }
            at += self.stride;
        }
        // The last few bytes may not be sampled: cover them (a short tail is cheap).
        let sampled_to = at.saturating_sub(self.stride) + GRAM;
        if sampled_to < hay.len() {
            let start = hay.len().saturating_sub(reach);
            match out.last_mut() {
                Some(last) if start <= last.1 => last.1 = hay.len(),
                _ => out.push((start, hay.len())),
            }
        }
    }
}
