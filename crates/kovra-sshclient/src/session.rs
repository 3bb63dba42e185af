//! One SSH conversation over russh: TCP connect, key exchange with the pin check, publickey
//! login, one `exec` channel read to its close. Each step maps its failure to the
//! [`SshError`] the daemon can act on (re-pin, fix `authorized_keys`, retry later) rather
//! than passing russh's errors through.

use std::sync::Arc;
use std::time::{Duration, Instant};

use russh::client::{self, Handle};
use russh::keys::{Algorithm, HashAlg, PrivateKey, PrivateKeyWithHashAlg};
use russh::{ChannelMsg, Disconnect, Sig};
use tokio::time::{timeout, timeout_at};
use zeroize::Zeroizing;

use crate::hostkey::{self, HostKey, PinCheck};
use crate::{Limits, Outcome, SshError, Stream, Target};

/// How long the polite endings (a signal on timeout, the disconnect message) may take before
/// the runtime is simply dropped with the socket.
const GOODBYE: Duration = Duration::from_millis(500);

/// The OpenSSH private key text as russh's key type. ssh-key decodes the PEM's base64 as a
/// stream straight into its key types, which zeroize on drop; what it cannot promise is that
/// its base64 decoder's small line buffer is wiped. The text stays the caller's
/// `Zeroizing<String>`. Error reasons are fixed phrases, so no part of the text can reach an
/// error message.
///
/// ed25519, ECDSA and RSA keys are taken (RSA signs with rsa-sha2-512 or -256, see [`login`]);
/// anything else (DSA, security keys, which need hardware the daemon does not have) is
/// refused here rather than failing mid-login.
pub(crate) fn parse_key(text: &Zeroizing<String>) -> Result<PrivateKey, SshError> {
    let key = PrivateKey::from_openssh(text.as_bytes())
        .map_err(|_| SshError::BadKey("not an OpenSSH private key"))?;
    if key.is_encrypted() {
        return Err(SshError::BadKey("it is passphrase-protected"));
    }
    match key.algorithm() {
        Algorithm::Ed25519 | Algorithm::Ecdsa { .. } | Algorithm::Rsa { .. } => Ok(key),
        _ => Err(SshError::BadKey("its type is not ed25519, ecdsa or rsa")),
    }
}

/// russh's client settings: Nagle off (the exchange is many small packets, and a command's
/// latency is the point), and fewer algorithms than russh offers by default, since every one
/// left out is code a hostile server (or anyone on the path, before the pin check) cannot
/// reach:
/// - key exchange: ML-KEM-768 hybrid, curve25519 and P-256 only. No finite-field
///   Diffie-Hellman, whose group-exchange variant lets the server choose the group size (and
///   so the client's work);
/// - ciphers: AEAD only (ChaCha20-Poly1305, AES-256-GCM), so no MAC is ever used; the MAC
///   list, which must still be sent, names only SHA-2 encrypt-then-MAC;
/// - host keys: ed25519, ECDSA, and RSA signing with SHA-2 (rsa-sha2-512/256): never `ssh-rsa`,
///   whose signatures are SHA-1;
/// - no compression (zlib is not built) and no host certificates (a pin is a key).
///
/// Any OpenSSH from 6.5 (2014) on offers curve25519 and ChaCha20-Poly1305; RSA-SHA2 host keys
/// from 7.2 (2016).
fn config() -> Arc<client::Config> {
    use russh::keys::{Algorithm, EcdsaCurve};
    use russh::{Preferred, cipher, kex, mac};
    const KEX: &[kex::Name] = &[
        kex::MLKEM768X25519_SHA256,
        kex::CURVE25519,
        kex::CURVE25519_PRE_RFC_8731,
        kex::ECDH_SHA2_NISTP256,
        kex::EXTENSION_SUPPORT_AS_CLIENT,
        kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
    ];
    const CIPHERS: &[cipher::Name] = &[cipher::CHACHA20_POLY1305, cipher::AES_256_GCM];
    const MACS: &[mac::Name] = &[mac::HMAC_SHA512_ETM, mac::HMAC_SHA256_ETM];
    const HOST_KEYS: &[Algorithm] = &[
        Algorithm::Ed25519,
        Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP256,
        },
        Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP384,
        },
        Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP521,
        },
        Algorithm::Rsa {
            hash: Some(HashAlg::Sha512),
        },
        Algorithm::Rsa {
            hash: Some(HashAlg::Sha256),
        },
    ];
    Arc::new(client::Config {
        nodelay: true,
        preferred: Preferred {
            kex: KEX.into(),
            key: HOST_KEYS.into(),
            cipher: CIPHERS.into(),
            mac: MACS.into(),
            host_key_certificates: std::borrow::Cow::Borrowed(&[]),
            ..Preferred::DEFAULT
        },
        ..client::Config::default()
    })
}

/// TCP connect and key exchange up to the pin check. A refused pin comes back as
/// [`SshError::HostKeyChanged`] with the key the server presented.
async fn connect(host: &str, port: u16, pinned: &[String]) -> Result<Handle<PinCheck>, SshError> {
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| SshError::Unreachable(e.to_string()))?;
    // A latency nicety only; the connection works either way.
    let _ = tcp.set_nodelay(true);
    let (check, seen) = PinCheck::new(pinned);
    match client::connect_stream(config(), tcp, check).await {
        Ok(handle) => Ok(handle),
        Err(e) => match hostkey::recorded(&seen) {
            Some(key) if !pinned.iter().any(|p| p.trim() == key.fingerprint) => {
                Err(SshError::HostKeyChanged { seen: key })
            }
            _ => Err(SshError::Protocol(e.to_string())),
        },
    }
}

/// See [`crate::scan`]: every host is refused by an empty pin list, which is exactly "take
/// the key and go".
pub(crate) async fn scan(host: &str, port: u16, limit: Duration) -> Result<HostKey, SshError> {
    match timeout(limit, connect(host, port, &[])).await {
        Err(_) => Err(SshError::Timeout),
        Ok(Err(SshError::HostKeyChanged { seen })) => Ok(seen),
        Ok(Err(e)) => Err(e),
        // Unreachable with no pins; disconnect all the same if russh ever accepts.
        Ok(Ok(handle)) => {
            goodbye(&handle).await;
            Err(SshError::Protocol(
                "the server was accepted without a pin".into(),
            ))
        }
    }
}

/// Log in as `user` with `key`. For RSA, the strongest of rsa-sha2-512/256 the server lists
/// in `server-sig-algs` (OpenSSH lists both); a server that lists neither, or does not say, is
/// offered rsa-sha2-512: never `ssh-rsa`'s SHA-1, which current servers refuse anyway.
async fn login(handle: &mut Handle<PinCheck>, user: &str, key: PrivateKey) -> Result<(), SshError> {
    let hash = if key.algorithm().is_rsa() {
        match handle.best_supported_rsa_hash().await {
            Ok(Some(Some(listed @ (HashAlg::Sha256 | HashAlg::Sha512)))) => Some(listed),
            _ => Some(HashAlg::Sha512),
        }
    } else {
        None
    };
    let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
    let result = handle
        .authenticate_publickey(user, key)
        .await
        .map_err(|e| SshError::Protocol(e.to_string()))?;
    if result.success() {
        Ok(())
    } else {
        Err(SshError::AuthRefused)
    }
}

/// See [`crate::exec`]. The key is moved in and dropped inside russh once the login is
/// done or the connection ends, whichever comes first.
pub(crate) async fn exec(
    target: &Target,
    pinned: &[String],
    key: PrivateKey,
    command: &str,
    limits: &Limits,
    on_output: &mut dyn FnMut(Stream, &[u8]),
) -> Result<Outcome, SshError> {
    let start = Instant::now();
    let login_deadline = tokio::time::Instant::now() + limits.connect_timeout;
    let mut handle = timeout_at(login_deadline, connect(&target.host, target.port, pinned))
        .await
        .map_err(|_| SshError::Timeout)??;
    let logged_in = timeout_at(login_deadline, login(&mut handle, &target.user, key)).await;
    let result = match logged_in {
        Err(_) => Err(SshError::Timeout),
        Ok(Err(e)) => Err(e),
        Ok(Ok(())) => run(&handle, command, limits, on_output).await,
    };
    goodbye(&handle).await;
    result.map(|mut outcome| {
        outcome.elapsed = start.elapsed();
        outcome
    })
}

/// One session channel: exec, then read every message until the server closes it, passing
/// output on within the caps. The exit status may come before or after the output's end,
/// so only the channel's close ends the loop.
async fn run(
    handle: &Handle<PinCheck>,
    command: &str,
    limits: &Limits,
    on_output: &mut dyn FnMut(Stream, &[u8]),
) -> Result<Outcome, SshError> {
    let deadline = tokio::time::Instant::now() + limits.run_timeout;
    let protocol = |e: russh::Error| SshError::Protocol(e.to_string());
    let mut channel = timeout_at(deadline, handle.channel_open_session())
        .await
        .map_err(|_| SshError::Timeout)?
        .map_err(protocol)?;
    channel
        .exec(true, command.as_bytes())
        .await
        .map_err(protocol)?;
    let mut outcome = Outcome {
        exit_status: None,
        exit_signal: None,
        truncated: false,
        elapsed: Duration::ZERO,
    };
    let mut caps = Caps::new(limits.output_cap);
    loop {
        let msg = match timeout_at(deadline, channel.wait()).await {
            Ok(Some(msg)) => msg,
            Ok(None) => break,
            Err(_) => {
                // Ask the server to stop the command (OpenSSH honours `signal` requests), then
                // close; the connection's end stops it at the latest when it next writes.
                let _ = timeout(GOODBYE, channel.signal(Sig::TERM)).await;
                let _ = timeout(GOODBYE, channel.close()).await;
                return Err(SshError::Timeout);
            }
        };
        match msg {
            ChannelMsg::Data { data } => caps.pass(Stream::Stdout, &data, on_output),
            ChannelMsg::ExtendedData { data, ext: 1 } => {
                caps.pass(Stream::Stderr, &data, on_output)
            }
            ChannelMsg::ExitStatus { exit_status } => outcome.exit_status = Some(exit_status),
            ChannelMsg::ExitSignal { signal_name, .. } => {
                outcome.exit_signal = Some(signal_text(&signal_name))
            }
            ChannelMsg::Failure => {
                return Err(SshError::Protocol(
                    "the server refused to run the command".into(),
                ));
            }
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    outcome.truncated = caps.truncated;
    Ok(outcome)
}

/// End the connection with a disconnect message, so the server logs a clean close rather
/// than a reset; bounded, since nothing depends on it.
async fn goodbye(handle: &Handle<PinCheck>) {
    let _ = timeout(
        GOODBYE,
        handle.disconnect(Disconnect::ByApplication, "", "en"),
    )
    .await;
}

/// The per-stream output budget: chunks pass through until a stream's budget is spent, the
/// rest is dropped and remembered as truncation.
struct Caps {
    stdout: usize,
    stderr: usize,
    truncated: bool,
}

impl Caps {
    fn new(cap: usize) -> Caps {
        Caps {
            stdout: cap,
            stderr: cap,
            truncated: false,
        }
    }

    fn pass(&mut self, stream: Stream, data: &[u8], on_output: &mut dyn FnMut(Stream, &[u8])) {
        let left = match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        };
        let kept = data.len().min(*left);
        if kept < data.len() {
            self.truncated = true;
        }
        if kept > 0 {
            *left -= kept;
            on_output(stream, &data[..kept]);
        }
    }
}

/// A signal's name as OpenSSH sends it (without `SIG`).
fn signal_text(sig: &Sig) -> String {
    match sig {
        Sig::ABRT => "ABRT",
        Sig::ALRM => "ALRM",
        Sig::FPE => "FPE",
        Sig::HUP => "HUP",
        Sig::ILL => "ILL",
        Sig::INT => "INT",
        Sig::KILL => "KILL",
        Sig::PIPE => "PIPE",
        Sig::QUIT => "QUIT",
        Sig::SEGV => "SEGV",
        Sig::TERM => "TERM",
        Sig::USR1 => "USR1",
        Sig::Custom(name) => name,
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_keep_each_stream_to_its_budget_and_flag_the_rest() {
        let mut caps = Caps::new(5);
        let mut got: Vec<(Stream, Vec<u8>)> = Vec::new();
        let mut sink = |s: Stream, d: &[u8]| got.push((s, d.to_vec()));
        caps.pass(Stream::Stdout, b"abc", &mut sink);
        assert!(!caps.truncated);
        caps.pass(Stream::Stdout, b"defg", &mut sink);
        caps.pass(Stream::Stdout, b"hij", &mut sink);
        caps.pass(Stream::Stderr, b"12345", &mut sink);
        assert!(caps.truncated);
        assert_eq!(
            got,
            vec![
                (Stream::Stdout, b"abc".to_vec()),
                (Stream::Stdout, b"de".to_vec()),
                (Stream::Stderr, b"12345".to_vec()),
            ]
        );
    }

    /// The restriction as data, so a widening shows here: no SHA-1 anywhere (`ssh-rsa`
    /// signatures, hmac-sha1), no non-AEAD cipher, no host certificates, no DH kex.
    #[test]
    fn the_offered_algorithms_leave_out_sha1_non_aead_and_dh() {
        let config = config();
        let p = &config.preferred;
        assert!(!p.key.contains(&Algorithm::Rsa { hash: None }));
        assert!(p.key.contains(&Algorithm::Rsa {
            hash: Some(HashAlg::Sha512)
        }));
        assert!(p.host_key_certificates.is_empty());
        assert!(p.mac.iter().all(|m| !m.as_ref().contains("sha1")));
        assert!(
            p.cipher.iter().all(
                |c| [russh::cipher::CHACHA20_POLY1305, russh::cipher::AES_256_GCM].contains(c)
            )
        );
        assert!(
            p.kex
                .iter()
                .all(|k| !k.as_ref().starts_with("diffie-hellman"))
        );
    }

    #[test]
    fn an_unparseable_key_is_refused_without_echoing_it() {
        let text = Zeroizing::new("not-a-key CANARY-7f3a".to_string());
        let e = parse_key(&text).err().map(|e| format!("{e} {e:?}"));
        assert!(e.is_some_and(|e| !e.contains("CANARY")));
    }
}
