//! PostgreSQL's frames as the proxy meets them: the untyped startup packets a client opens
//! with, typed messages (`tag`, length, body), and the few messages the proxy writes itself.
//! Hand-written because postgres-protocol builds and parses a *client's* side; the server's
//! side of the startup (reading a StartupMessage, writing an ErrorResponse) it does not do.
//! Every length read from the peer is bounded before anything is allocated.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// PostgreSQL's own bound on a startup packet (`MAX_STARTUP_PACKET_LENGTH`).
pub const MAX_STARTUP: usize = 10_000;
/// The most a password message may hold: a token is 48 bytes.
pub const MAX_PASSWORD: usize = 1024;
/// The most an upstream message may hold while the proxy still reads them itself (before
/// the relay): authentication, parameter status, notices.
pub const MAX_UPSTREAM: usize = 64 * 1024;

pub const PROTOCOL_3: u32 = 196_608;
pub const SSL_REQUEST: u32 = 80_877_103;
pub const GSSENC_REQUEST: u32 = 80_877_104;
pub const CANCEL_REQUEST: u32 = 80_877_102;

/// What a client opened with.
pub enum Opening {
    Ssl,
    Gssenc,
    Cancel {
        pid: i32,
        key: i32,
    },
    /// Protocol 3.x: the minor version asked for and the parameters, in order.
    Startup {
        minor: u16,
        params: Vec<(String, String)>,
    },
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}

/// Read one startup packet (length, code, body), refusing a length outside 8..=10,000
/// before reading the body.
pub async fn read_opening<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Opening> {
    let len = r.read_u32().await? as usize;
    if !(8..=MAX_STARTUP).contains(&len) {
        return Err(invalid("invalid length of startup packet"));
    }
    let code = r.read_u32().await?;
    let mut body = vec![0u8; len - 8];
    r.read_exact(&mut body).await?;
    match code {
        SSL_REQUEST if body.is_empty() => Ok(Opening::Ssl),
        GSSENC_REQUEST if body.is_empty() => Ok(Opening::Gssenc),
        CANCEL_REQUEST if body.len() == 8 => Ok(Opening::Cancel {
            pid: i32::from_be_bytes([body[0], body[1], body[2], body[3]]),
            key: i32::from_be_bytes([body[4], body[5], body[6], body[7]]),
        }),
        c if c >> 16 == 3 => Ok(Opening::Startup {
            minor: (c & 0xffff) as u16,
            params: startup_params(&body)?,
        }),
        _ => Err(invalid("unsupported frontend protocol")),
    }
}

/// `name\0value\0 … \0`, every string UTF-8.
fn startup_params(body: &[u8]) -> io::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let (name, after) = cstr(rest).ok_or_else(|| invalid("malformed startup packet"))?;
        if name.is_empty() {
            return if after.is_empty() {
                Ok(out)
            } else {
                Err(invalid("malformed startup packet"))
            };
        }
        let (value, after) = cstr(after).ok_or_else(|| invalid("malformed startup packet"))?;
        out.push((name.to_string(), value.to_string()));
        rest = after;
    }
}

/// A NUL-terminated UTF-8 string and what follows it.
pub fn cstr(buf: &[u8]) -> Option<(&str, &[u8])> {
    let end = buf.iter().position(|&b| b == 0)?;
    let s = std::str::from_utf8(&buf[..end]).ok()?;
    Some((s, &buf[end + 1..]))
}

/// One typed message: its tag and body (the length is not kept).
pub struct Message {
    pub tag: u8,
    pub body: Vec<u8>,
}

impl Message {
    /// The message as it travels.
    pub fn frame(&self) -> Vec<u8> {
        frame(self.tag, &self.body)
    }
}

/// Read one typed message whose body is at most `max` bytes.
pub async fn read_message<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> io::Result<Message> {
    let tag = r.read_u8().await?;
    let len = r.read_u32().await? as usize;
    if len < 4 || len - 4 > max {
        return Err(invalid("a message longer than the proxy accepts here"));
    }
    let mut body = vec![0u8; len - 4];
    r.read_exact(&mut body).await?;
    Ok(Message { tag, body })
}

pub fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + body.len());
    out.push(tag);
    out.extend_from_slice(
        &u32::try_from(body.len() + 4)
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(body);
    out
}

/// An untyped packet (a startup or a cancel request).
pub fn packet(code: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(
        &u32::try_from(body.len() + 8)
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// `R` with an authentication code and its data.
pub fn auth(code: u32, data: &[u8]) -> Vec<u8> {
    let mut body = code.to_be_bytes().to_vec();
    body.extend_from_slice(data);
    frame(b'R', &body)
}

/// A FATAL `ErrorResponse` with SQLSTATE `code`: the client prints `message` and gives up.
pub fn fatal(code: &str, message: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', code),
        (b'M', message),
    ] {
        body.push(field);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    frame(b'E', &body)
}

/// `NegotiateProtocolVersion`: the proxy speaks 3.0, and these `_pq_.` options it ignored.
pub fn negotiate(ignored: &[String]) -> Vec<u8> {
    let mut body = PROTOCOL_3.to_be_bytes().to_vec();
    body.extend_from_slice(&u32::try_from(ignored.len()).unwrap_or(0).to_be_bytes());
    for name in ignored {
        body.extend_from_slice(name.as_bytes());
        body.push(0);
    }
    frame(b'v', &body)
}

/// The SQLSTATE and message of an `ErrorResponse` body.
pub fn error_fields(body: &[u8]) -> (String, String) {
    let (mut code, mut message) = (String::new(), String::new());
    let mut rest = body;
    while let Some((&field, after)) = rest.split_first() {
        if field == 0 {
            break;
        }
        let Some((value, after)) = cstr(after) else {
            break;
        };
        match field {
            b'C' => code = value.to_string(),
            b'M' => message = value.to_string(),
            _ => {}
        }
        rest = after;
    }
    (code, message)
}

pub async fn send<W: AsyncWrite + Unpin>(w: &mut W, bytes: &[u8]) -> io::Result<()> {
    w.write_all(bytes).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_an_oversized_startup_length_before_reading_it() {
        let mut input: &[u8] = &[0x40, 0, 0, 0, 0, 3, 0, 0];
        let e = read_opening(&mut input).await.err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }

    #[tokio::test]
    async fn reads_a_startup_message() {
        let body = b"user\0app\0database\0db\0\0";
        let bytes = packet(PROTOCOL_3, body);
        let mut input: &[u8] = &bytes;
        match read_opening(&mut input).await.unwrap() {
            Opening::Startup { minor, params } => {
                assert_eq!(minor, 0);
                assert_eq!(params[1], ("database".into(), "db".into()));
            }
            _ => panic!("not a startup"),
        }
    }

    #[tokio::test]
    async fn refuses_a_startup_without_its_final_nul() {
        let bytes = packet(PROTOCOL_3, b"user\0app\0");
        let mut input: &[u8] = &bytes;
        assert!(read_opening(&mut input).await.is_err());
    }

    #[test]
    fn error_fields_read_back() {
        let e = fatal("28P01", "no");
        assert_eq!(error_fields(&e[5..]), ("28P01".into(), "no".into()));
    }
}
