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
    let mut bytes = Zeroizing::new(vec![0u8; 4]);
    serde_json::to_writer(&mut *bytes, msg).map_err(|e| FrameError::Malformed(e.to_string()))?;
    let body = bytes.len() - 4;
    let len = u32::try_from(body).map_err(|_| FrameError::TooLarge(body, u32::MAX as usize))?;
    bytes[..4].copy_from_slice(&len.to_be_bytes());
    w.write_all(&bytes)?;
    w.flush()?;
    Ok(())
}

/// Read one frame of at most `max` bytes and deserialize it.
pub fn read<R: Read, T: DeserializeOwned>(r: &mut R, max: usize) -> Result<T, FrameError> {
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
    let mut buf = Zeroizing::new(vec![0u8; len]);
    r.read_exact(&mut buf)?;
    serde_json::from_slice(&buf).map_err(|e| FrameError::Malformed(e.to_string()))
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
    fn round_trip() {
        let mut buf = Vec::new();
        write(&mut buf, &serde_json::json!({"a": 1})).ok();
        let v: serde_json::Value = read(&mut buf.as_slice(), MAX_REQUEST).unwrap_or_default();
        assert_eq!(v["a"], 1);
    }
}
