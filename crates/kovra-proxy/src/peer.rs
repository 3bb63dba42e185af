//! Who is on the other end of a loopback TCP connection. A listener bound to a grant needs no
//! proxy credential (Claude Code's sandbox cannot send one), and an agent profile's credential
//! lives as long as the daemon and is printed for dotenv files, so every listener refuses
//! other users of the machine: the kernel's socket table (`/proc/net/tcp`, `/proc/net/tcp6`) says
//! which uid owns the connecting socket. Hand-written: it is a few lines of a fixed text
//! format, and no socket option gives a TCP peer's uid.

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::MetadataExt;

/// This process's effective uid (the owner of `/proc/self`).
pub(crate) fn my_uid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// The uid that owns the socket at `peer` connected to `local`, both on this machine.
pub(crate) fn peer_uid(local: SocketAddr, peer: SocketAddr) -> Option<u32> {
    let table = match peer.ip() {
        IpAddr::V4(_) => "/proc/net/tcp",
        IpAddr::V6(_) => "/proc/net/tcp6",
    };
    let text = std::fs::read_to_string(table).ok()?;
    text.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (from, to, uid) = (f.get(1)?, f.get(2)?, f.get(7)?);
        (parse(from)? == peer && parse(to)? == local).then(|| uid.parse().ok())?
    })
}

/// `0100007F:1F90`: the address as the kernel's in-memory words in hex, then the port.
fn parse(field: &str) -> Option<SocketAddr> {
    let (addr, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match addr.len() {
        8 => IpAddr::from(u32::from_str_radix(addr, 16).ok()?.to_ne_bytes()),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                let word = u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok()?;
                chunk.copy_from_slice(&word.to_ne_bytes());
            }
            IpAddr::from(bytes)
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_of_ours_is_found_with_our_uid() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(
            peer_uid(server.local_addr().unwrap(), peer),
            my_uid(),
            "the socket table names us"
        );
        assert_eq!(parse("0100007F:1F90"), "127.0.0.1:8080".parse().ok());
    }
}
