//! A sampled pre-filter that lets the full matcher skip text that cannot hold a pattern.
//!
//! Every pattern is at least `min_len` bytes long, so any occurrence fully covers at least
//! one 8-byte window starting at a multiple of `stride = min_len - 7`. Sampling only those
//! windows, and rejecting those whose 8 bytes are no 8-byte piece of any pattern, leaves
//! the automaton only the few regions around real candidates.
//!
//! Both tables are sized to the number of distinct pieces, not fixed: a run starts with a
//! build, and zeroing a fixed table big enough for the largest value set cost more than
//! the rest of the build together. The pieces are pieces of secret values, so both live in
//! `Zeroizing` buffers and are wiped when the redactor is dropped.

use zeroize::Zeroizing;

const GRAM: usize = 8;
/// Below this the stride would be too short to gain anything over the full matcher.
pub const MIN_USEFUL_LEN: usize = GRAM + 8;
/// Bitmap bits per distinct piece: at 16, about one sample in 16 that is no piece passes
/// the bitmap and costs a probe of the table behind it.
const BITS_PER_GRAM: usize = 16;
/// The bitmap stays within these sizes (in bits): 512 B for a handful of values, 512 KiB
/// (the old fixed size) at most.
const MIN_BITMAP_BITS: u32 = 12;
const MAX_BITMAP_BITS: u32 = 22;

pub struct Prefilter {
    stride: usize,
    /// A fast, lossy membership test in front of the table: `1 << bitmap_bits` bits.
    bitmap: Zeroizing<Vec<u64>>,
    bitmap_shift: u32,
    /// Behind it, a near-exact set: an open-addressing table of 32-bit fingerprints of the
    /// pieces (0 marks an empty slot). Two pieces may share a fingerprint; that costs the
    /// automaton a look at one more small region, never a missed match.
    table: Zeroizing<Vec<u32>>,
    table_shift: u32,
}

fn gram_at(bytes: &[u8], at: usize) -> u64 {
    let mut g = [0u8; GRAM];
    g.copy_from_slice(&bytes[at..at + GRAM]);
    u64::from_le_bytes(g)
}

/// Fibonacci hashing: the top bits of the product are well mixed.
fn mix(gram: u64) -> u64 {
    gram.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// A second, independent mix for the table, so its clusters are not the bitmap's: the
/// slot from its top bits, the fingerprint (never 0) from its low half.
fn mix2(gram: u64) -> u64 {
    (gram ^ (gram >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9)
}

fn fingerprint(mixed: u64) -> u32 {
    (mixed as u32) | 1
}

impl Prefilter {
    /// `None` when some pattern is too short for sampling to pay off.
    pub fn new<'a>(patterns: impl Iterator<Item = &'a [u8]> + Clone) -> Option<Prefilter> {
        let min_len = patterns.clone().map(<[u8]>::len).min()?;
        if min_len < MIN_USEFUL_LEN {
            return None;
        }
        let most: usize = patterns.clone().map(|p| p.len() - GRAM + 1).sum();
        // At most half full: probes stay short.
        let table_bits = (most * 2).next_power_of_two().trailing_zeros().max(4);
        let mut table = Zeroizing::new(vec![0u32; 1 << table_bits]);
        let table_shift = 64 - table_bits;
        let mask = table.len() - 1;
        let mut distinct = 0usize;
        for p in patterns.clone() {
            for at in 0..=p.len() - GRAM {
                let g = gram_at(p, at);
                let mixed = mix2(g);
                let f = fingerprint(mixed);
                let mut i = (mixed >> table_shift) as usize;
                loop {
                    match table[i] {
                        0 => {
                            table[i] = f;
                            distinct += 1;
                            break;
                        }
                        t if t == f => break,
                        _ => i = (i + 1) & mask,
                    }
                }
            }
        }
        let bitmap_bits = (distinct.max(1) * BITS_PER_GRAM)
            .next_power_of_two()
            .trailing_zeros()
            .clamp(MIN_BITMAP_BITS, MAX_BITMAP_BITS);
        let mut bitmap = Zeroizing::new(vec![0u64; (1usize << bitmap_bits) / 64]);
        let bitmap_shift = 64 - bitmap_bits;
        let mut set = |g: u64| {
            let s = (mix(g) >> bitmap_shift) as usize;
            bitmap[s / 64] |= 1 << (s % 64);
        };
        // Every piece, not one per fingerprint: a piece whose fingerprint another shares
        // must still pass the bitmap.
        for p in patterns {
            for at in 0..=p.len() - GRAM {
                set(gram_at(p, at));
            }
        }
        Some(Prefilter {
            stride: min_len - GRAM + 1,
            bitmap,
            bitmap_shift,
            table,
            table_shift,
        })
    }

    /// Whether `g` may be a piece of some pattern (it is, but for a rare shared fingerprint).
    fn contains(&self, g: u64) -> bool {
        let s = (mix(g) >> self.bitmap_shift) as usize;
        if self.bitmap[s / 64] & (1 << (s % 64)) == 0 {
            return false;
        }
        let mask = self.table.len() - 1;
        let mixed = mix2(g);
        let f = fingerprint(mixed);
        let mut i = (mixed >> self.table_shift) as usize;
        loop {
            match self.table[i] {
                0 => return false,
                t if t == f => return true,
                _ => i = (i + 1) & mask,
            }
        }
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
            if self.contains(gram_at(hay, at)) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_piece_is_found_and_the_tables_fit_the_patterns() {
        let patterns: Vec<Vec<u8>> = (0..50u8)
            .map(|i| {
                (0..24)
                    .map(|j| i.wrapping_mul(31).wrapping_add(j * 7))
                    .collect()
            })
            .chain([vec![0u8; 20]])
            .collect();
        let pf = Prefilter::new(patterns.iter().map(Vec::as_slice)).unwrap();
        for p in &patterns {
            for at in 0..=p.len() - GRAM {
                assert!(pf.contains(gram_at(p, at)));
            }
        }
        assert!(!pf.contains(u64::from_le_bytes(*b"zzzzzzzz")));
        // 50 × 17 + 1 pieces at 16 bits each: 16 Ki bits, far under the old 4 Mi.
        assert!(pf.bitmap.len() * 64 <= 1 << 15, "{}", pf.bitmap.len());
    }
}
