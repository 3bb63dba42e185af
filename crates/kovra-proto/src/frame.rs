//! Length-prefixed frames: a 4-byte big-endian length, then that many bytes of JSON.
//! The length is checked against a cap before anything is allocated.

use std::io::{self, Read, Write};

use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

/// The largest request a daemon accepts.
pub const MAX_REQUEST: usize = 1 << 20;
/// The largest reply a client accepts (a listing of a very large vault).
pub const MAX_REPLY: usize = 512 << 20;
/// The largest page of a streamed reply a client accepts (`PAGE_ITEMS` records or entries
/// of the longest allowed descriptions fit many times over).
pub const MAX_PAGE: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("frame of {0} bytes exceeds the limit of {1}")]
    TooLarge(usize, usize),
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// Serialize and write one frame with one `write_all`, so an unbuffered stream needs no
/// buffer of its own. The serialized bytes are wiped afterwards, since a frame may carry a
/// passphrase or a value; both ends read and write frames unbuffered for the same reason.
pub fn write<W: Write, T: Serialize>(w: &mut W, msg: &T) -> Result<(), FrameError> {
    write_reusing(w, msg, &mut Zeroizing::new(Vec::new()))
}

/// [`write`] through a buffer the caller keeps for a run of frames (a streamed reply's
/// pages): it grows once rather than doubling from empty per frame, and is wiped after each
/// frame as `write`'s own is.
pub fn write_reusing<W: Write, T: Serialize>(
    w: &mut W,
    msg: &T,
    buf: &mut Zeroizing<Vec<u8>>,
) -> Result<(), FrameError> {
    start(buf);
    match serde_json::to_writer(&mut **buf, msg) {
        Ok(()) => send(w, buf),
        Err(e) => {
            wipe(buf);
            Err(FrameError::Malformed(e.to_string()))
        }
    }
}

/// Begin a frame in `buf`, for a caller that appends its JSON body itself (a listing's
/// pages, written by hand in [`crate::view_json`]) and then calls [`send`].
pub fn start(buf: &mut Zeroizing<Vec<u8>>) {
    buf.clear();
    buf.extend_from_slice(&[0u8; 4]);
}

/// Write the frame begun in `buf` by [`start`] with one `write_all`, then wipe `buf`.
pub fn send<W: Write>(w: &mut W, buf: &mut Zeroizing<Vec<u8>>) -> Result<(), FrameError> {
    let body = buf.len().saturating_sub(4);
    let written = u32::try_from(body)
        .map_err(|_| FrameError::TooLarge(body, u32::MAX as usize))
        .and_then(|len| {
            buf[..4].copy_from_slice(&len.to_be_bytes());
            w.write_all(buf)?;
            w.flush()?;
            Ok(())
        });
    wipe(buf);
    written
}

fn wipe(buf: &mut Zeroizing<Vec<u8>>) {
    use zeroize::Zeroize;
    buf.as_mut_slice().zeroize();
}

/// Read one frame of at most `max` bytes and deserialize it.
pub fn read<R: Read, T: DeserializeOwned>(r: &mut R, max: usize) -> Result<T, FrameError> {
    let buf = read_raw(r, max)?;
    serde_json::from_slice(&buf).map_err(|e| FrameError::Malformed(e.to_string()))
}

/// Read one frame of at most `max` bytes as its JSON text, for a caller that parses it
/// borrowing from the bytes (a streamed page's strings need no copies of their own). The
/// buffer is wiped on drop.
pub fn read_raw<R: Read>(r: &mut R, max: usize) -> Result<Zeroizing<Vec<u8>>, FrameError> {
    let mut buf = Zeroizing::new(Vec::new());
    read_raw_into(r, max, &mut buf)?;
    Ok(buf)
}

/// [`read_raw`] into a buffer the caller keeps for a run of frames (a streamed reply's
/// pages): what it held is overwritten, and it grows only past the largest frame so far, so
/// a long stream neither allocates nor faults in new pages for each of its frames.
pub fn read_raw_into<R: Read>(
    r: &mut R,
    max: usize,
    buf: &mut Zeroizing<Vec<u8>>,
) -> Result<(), FrameError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(FrameError::TooLarge(len, max));
    }
    read_body(r, len, buf)
}

/// The first step of a body's buffer; it doubles from there.
const FIRST_STEP: usize = 64 * 1024;

/// Read a body of `len` bytes into `buf`, which grows with the bytes that actually arrive.
/// The cap alone was not enough: a reply may be 512 MiB, so six bytes declaring that made
/// the client allocate (and later wipe) 512 MiB before any of the body came (found by the
/// `frame_response` fuzz target). The buffer is moved, never reallocated in place, so no
/// unwiped copy of a body is left behind when it grows.
fn read_body<R: Read>(
    r: &mut R,
    len: usize,
    buf: &mut Zeroizing<Vec<u8>>,
) -> Result<(), FrameError> {
    buf.clear();
    while buf.len() < len {
        let start = buf.len();
        let end = start + (len - start).min(start.max(FIRST_STEP));
        if buf.capacity() < end {
            let mut bigger = Zeroizing::new(Vec::with_capacity(end));
            bigger.extend_from_slice(buf);
            *buf = bigger;
        }
        buf.resize(end, 0);
        r.read_exact(&mut buf[start..])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_length_is_refused_before_allocation() {
        let mut input: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        let r: Result<serde_json::Value, _> = read(&mut input, MAX_REQUEST);
        assert!(matches!(r, Err(FrameError::TooLarge(_, _))));
    }

    #[test]
    fn a_declared_length_commits_no_memory_the_peer_did_not_send() {
        let mut input: &[u8] = &[0x1f, 0xff, 0xff, 0xff, b'{'];
        let r: Result<serde_json::Value, _> = read(&mut input, MAX_REPLY);
        assert!(matches!(r, Err(FrameError::Io(_))));
    }

    #[test]
    fn a_body_longer_than_the_first_step_reads_whole() {
        let text = "x".repeat(3 * FIRST_STEP + 5);
        let mut buf = Vec::new();
        write(&mut buf, &text).unwrap();
        let back: String = read(&mut buf.as_slice(), MAX_REQUEST).unwrap();
        assert_eq!(back, text);
    }

    #[test]
    fn a_reused_buffer_writes_the_same_frames_and_is_wiped() {
        let mut buf = Zeroizing::new(Vec::new());
        let mut reused = Vec::new();
        let mut fresh = Vec::new();
        for msg in ["a long first message", "short"] {
            write_reusing(&mut reused, &msg, &mut buf).unwrap();
            assert!(buf.iter().all(|b| *b == 0));
            write(&mut fresh, &msg).unwrap();
        }
        assert_eq!(reused, fresh);
    }

    #[test]
    fn a_reused_read_buffer_holds_each_frame_alone_and_keeps_its_allocation() {
        let long = "y".repeat(2 * FIRST_STEP + 7);
        let mut wire = Vec::new();
        for msg in [long.as_str(), "short", long.as_str()] {
            write(&mut wire, &msg).unwrap();
        }
        let mut r = wire.as_slice();
        let mut buf = Zeroizing::new(Vec::new());
        read_raw_into(&mut r, MAX_REQUEST, &mut buf).unwrap();
        assert_eq!(serde_json::from_slice::<String>(&buf).unwrap(), long);
        let grown = buf.as_ptr();
        read_raw_into(&mut r, MAX_REQUEST, &mut buf).unwrap();
        assert_eq!(&buf[..], b"\"short\"");
        read_raw_into(&mut r, MAX_REQUEST, &mut buf).unwrap();
        assert_eq!(serde_json::from_slice::<String>(&buf).unwrap(), long);
        assert_eq!(
            buf.as_ptr(),
            grown,
            "a frame no larger than the last one allocates nothing"
        );
        assert!(matches!(
            read_raw_into(&mut r, MAX_REQUEST, &mut buf),
            Err(FrameError::Closed)
        ));
    }

    #[test]
    fn round_trip() {
        let mut buf = Vec::new();
        write(&mut buf, &serde_json::json!({"a": 1})).ok();
        let v: serde_json::Value = read(&mut buf.as_slice(), MAX_REQUEST).unwrap_or_default();
        assert_eq!(v["a"], 1);
    }
}
