//! `kovra sandbox-init`, the first process inside a sandbox: it serves the egress proxy's
//! unix socket (bind-mounted in) on loopback inside the sandbox's network namespace, then
//! starts the command and exits as it exits. Hand-written because it is a plain byte relay
//! of a few lines that must run inside the namespace itself (`socat` would be one more
//! program to install and trust).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use kovra_proto::ErrorCode;

use crate::cli_agent::SandboxInitArgs;
use crate::error::CliError;

pub fn init(args: SandboxInitArgs) -> Result<u8, CliError> {
    let listener = TcpListener::bind(("127.0.0.1", args.port)).map_err(|e| {
        CliError::new(
            ErrorCode::SandboxUnavailable,
            format!(
                "inside the sandbox, cannot listen on 127.0.0.1:{} for the egress proxy: {e}",
                args.port
            ),
            None,
        )
    })?;
    let socket = args.egress_socket.clone();
    std::thread::Builder::new()
        .name("kovra-egress-bridge".into())
        .spawn(move || serve(&listener, &socket))
        .map_err(|e| CliError::new(ErrorCode::SandboxUnavailable, e.to_string(), None))?;
    super::run_here(&args.command)
}

fn serve(listener: &TcpListener, socket: &Path) {
    for stream in listener.incoming() {
        let Ok(client) = stream else { continue };
        let socket: PathBuf = socket.to_path_buf();
        let _ = std::thread::Builder::new()
            .name("kovra-egress-conn".into())
            .spawn(move || relay(client, &socket));
    }
}

/// Copy both ways until each side has closed its half.
fn relay(client: TcpStream, socket: &Path) {
    let Ok(upstream) = UnixStream::connect(socket) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let (Ok(mut client_r), Ok(mut upstream_w)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || {
        pump(&mut client_r, &mut upstream_w);
        let _ = upstream_w.shutdown(Shutdown::Write);
    });
    let (mut upstream_r, mut client_w) = (upstream, client);
    pump(&mut upstream_r, &mut client_w);
    let _ = client_w.shutdown(Shutdown::Write);
    let _ = up.join();
}

fn pump(from: &mut impl Read, to: &mut impl Write) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
