//! The agent protocol's framing: a big-endian `u32` length, then that many bytes.
//!
//! Written by hand rather than taken from `ssh-agent-lib`: its codec is a tokio-util
//! `Decoder` (the daemon's request path has no async runtime), and it trusts the peer's
//! length with no cap. Here the length is checked against a cap before anything is
//! allocated, the buffer is exactly that long (no regrowth leaving copies behind) and is
//! wiped when dropped, since a refused `ssh-add KEY` still carries a private key.

use std::io::{self, ErrorKind, Read, Write};

use zeroize::Zeroizing;

/// OpenSSH's own agent refuses messages over 256 KiB (`AGENT_MAX_LEN`); so does this one.
pub const MAX_FRAME: usize = 256 * 1024;

/// Why no frame was read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the connection between frames.
    #[error("closed")]
    Closed,
    /// The peer closed the connection inside a frame.
    #[error("the connection closed inside a frame")]
    Truncated,
    /// The declared length is over the cap; nothing of the body was read.
    #[error("a frame of {0} bytes is over the cap")]
    TooLarge(u32),
    /// The peer was too slow (idle, or inside a frame).
    #[error("timed out")]
    TimedOut,
    #[error(transparent)]
    Io(io::Error),
}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            ErrorKind::UnexpectedEof => Self::Truncated,
            ErrorKind::WouldBlock | ErrorKind::TimedOut => Self::TimedOut,
            _ => Self::Io(e),
        }
    }
}

/// Reads one frame of at most `max` bytes. `started` is called once the first byte of the
/// frame has arrived, so a caller can switch from an idle timeout to a tighter per-frame
/// deadline (a peer trickling one byte at a time must not hold a connection forever).
pub fn read_frame<R: Read>(
    reader: &mut R,
    max: usize,
    started: impl FnOnce(),
) -> Result<Zeroizing<Vec<u8>>, FrameError> {
    let mut header = [0u8; 4];
    loop {
        match reader.read(&mut header[..1]) {
            Ok(0) => return Err(FrameError::Closed),
            Ok(_) => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    started();
    reader.read_exact(&mut header[1..])?;
    let declared = u32::from_be_bytes(header);
    let len = usize::try_from(declared).map_err(|_| FrameError::TooLarge(declared))?;
    if len > max {
        return Err(FrameError::TooLarge(declared));
    }
    let mut body = Zeroizing::new(vec![0u8; len]);
    reader.read_exact(&mut body)?;
    Ok(body)
}

/// Writes one frame in a single `write_all`, so a reply never goes out in pieces.
pub fn write_frame<W: Write>(writer: &mut W, message: &[u8]) -> io::Result<()> {
    let len = u32::try_from(message.len())
        .map_err(|_| io::Error::new(ErrorKind::InvalidInput, "reply too large"))?;
    let mut frame = Vec::with_capacity(4 + message.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(message);
    writer.write_all(&frame)?;
    writer.flush()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn reads_back_what_it_writes_and_caps_before_reading() {
        let mut wire = Vec::new();
        write_frame(&mut wire, b"\x0b").unwrap();
        write_frame(&mut wire, &[7u8; 10]).unwrap();
        let mut r = wire.as_slice();
        assert_eq!(&*read_frame(&mut r, 16, || {}).unwrap(), b"\x0b");
        assert!(matches!(
            read_frame(&mut r, 9, || {}),
            Err(FrameError::TooLarge(10))
        ));
        let mut short: &[u8] = &[0, 0, 0, 5, 1, 2];
        assert!(matches!(
            read_frame(&mut short, 16, || {}),
            Err(FrameError::Truncated)
        ));
        let mut half: &[u8] = &[0, 0];
        assert!(matches!(
            read_frame(&mut half, 16, || {}),
            Err(FrameError::Truncated)
        ));
        let mut empty: &[u8] = &[];
        assert!(matches!(
            read_frame(&mut empty, 16, || {}),
            Err(FrameError::Closed)
        ));
    }
}
