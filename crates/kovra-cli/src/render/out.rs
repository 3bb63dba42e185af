//! Where a streamed document or table goes: a buffer of 64 KiB in front of stdout, written whole.
//!
//! JSON comes out in pieces of a few bytes (a quote, a comma and a newline, an indent, a key,
//! a short number): about twenty per record, four in five of them 16 bytes or less, nearly
//! all the rest 64 or less (a coordinate, a description). `BufWriter` copies each with a call
//! to the C library's `memcpy`, and musl's, which the front program links, begins every copy
//! with a `rep movs`, whose start-up dwarfs a copy of a few bytes: at 100,000 records that
//! was half of the front's CPU for `kovra list --json`. Here a piece of up to 64 bytes is
//! copied as two overlapping fixed-size words (plain moves, no call); longer pieces are
//! copied as before. Written by hand because the buffered writers of std and the crates
//! around it all copy through `memcpy`.

use std::io::{self, Write};

/// The buffer: what one `write` to stdout carries at most.
const CAP: usize = 64 * 1024;
/// The largest piece copied without `memcpy`; this much room is kept free at the buffer's
/// end so such a piece never has to be split.
const SMALL: usize = 64;

pub(crate) struct Chunked<W: Write> {
    w: W,
    buf: Box<[u8]>,
    len: usize,
}

impl<W: Write> Chunked<W> {
    pub(crate) fn new(w: W) -> Self {
        Chunked {
            w,
            buf: vec![0; CAP].into_boxed_slice(),
            len: 0,
        }
    }

    fn drain(&mut self) -> io::Result<()> {
        let filled = self.len;
        // Forget the bytes first: after a failed write they are not written again on drop.
        self.len = 0;
        self.w.write_all(&self.buf[..filled])
    }

    #[cold]
    fn write_large(&mut self, b: &[u8]) -> io::Result<()> {
        if self.len + b.len() > CAP {
            self.drain()?;
        }
        if b.len() > CAP {
            return self.w.write_all(b);
        }
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
        Ok(())
    }
}

/// `n` spaces (an indent, a column's padding) as slices of a constant, each short enough to
/// be copied without a call.
pub(super) fn spaces(n: usize) -> impl Iterator<Item = &'static [u8]> {
    const SPACES: &[u8; SMALL] = &[b' '; SMALL];
    let whole = std::iter::repeat_n(&SPACES[..], n / SMALL);
    whole.chain(Some(&SPACES[..n % SMALL]).filter(|s| !s.is_empty()))
}

/// Copy `b` (at most [`SMALL`] bytes) to the start of `dst` ([`SMALL`] bytes long) with
/// fixed-size copies only: the first and last 32, 16, 8 or 4 bytes, overlapping when shorter.
#[inline]
fn put_small(dst: &mut [u8; SMALL], b: &[u8]) {
    let n = b.len();
    if n >= 32 {
        word::<32>(dst, 0, b, 0);
        word::<32>(dst, n - 32, b, n - 32);
    } else if n >= 16 {
        word::<16>(dst, 0, b, 0);
        word::<16>(dst, n - 16, b, n - 16);
    } else if n >= 8 {
        word::<8>(dst, 0, b, 0);
        word::<8>(dst, n - 8, b, n - 8);
    } else if n >= 4 {
        word::<4>(dst, 0, b, 0);
        word::<4>(dst, n - 4, b, n - 4);
    } else if n > 0 {
        dst[0] = b[0];
        dst[n / 2] = b[n / 2];
        dst[n - 1] = b[n - 1];
    }
}

/// `N` bytes of `b` from `from` to `dst` at `to`, as one fixed-size copy.
#[inline]
fn word<const N: usize>(dst: &mut [u8; SMALL], to: usize, b: &[u8], from: usize) {
    if let (Some(d), Some(s)) = (
        dst.get_mut(to..to + N)
            .and_then(|d| <&mut [u8; N]>::try_from(d).ok()),
        b.get(from..from + N)
            .and_then(|s| <&[u8; N]>::try_from(s).ok()),
    ) {
        *d = *s;
    }
}

impl<W: Write> Write for Chunked<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.write_all(b).map(|()| b.len())
    }

    #[inline]
    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        if b.len() > SMALL {
            return self.write_large(b);
        }
        if self.len > CAP - SMALL {
            self.drain()?;
        }
        let at = self.len;
        if let Some(room) = self
            .buf
            .get_mut(at..at + SMALL)
            .and_then(|r| <&mut [u8; SMALL]>::try_from(r).ok())
        {
            put_small(room, b);
        }
        self.len = at + b.len();
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.drain()?;
        self.w.flush()
    }
}

impl<W: Write> Drop for Chunked<W> {
    /// What was printed so far reaches stdout, as a `BufWriter` dropped does.
    fn drop(&mut self) {
        let _ = self.drain();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_size_and_position_comes_out_as_written() {
        let mut want = Vec::new();
        let mut got = Chunked::new(Vec::new());
        // Pieces of every length up to past the small ones and past the buffer, so that
        // small pieces land at every offset, including right at the buffer's end.
        let mut i = 0u32;
        while want.len() < 5 * CAP {
            let n = match i % 71 {
                70 => CAP + 3,
                k => k as usize,
            };
            let piece: Vec<u8> = (0..n).map(|j| (i as usize * 31 + j) as u8).collect();
            got.write_all(&piece).unwrap();
            want.extend_from_slice(&piece);
            i += 1;
        }
        got.flush().unwrap();
        assert!(got.w == want);
    }

    #[test]
    fn spaces_add_up_to_what_was_asked() {
        for n in [0, 1, SMALL - 1, SMALL, SMALL + 1, 3 * SMALL + 5] {
            let got: Vec<u8> = spaces(n).flatten().copied().collect();
            assert_eq!(got, vec![b' '; n], "{n}");
        }
    }

    #[test]
    fn dropping_writes_what_is_buffered() {
        let mut sink = Vec::new();
        {
            let mut out = Chunked::new(&mut sink);
            out.write_all(b"{\n  ").unwrap();
            out.write_all(b"\"kind\"").unwrap();
        }
        assert_eq!(sink, b"{\n  \"kind\"");
    }
}
