//! Tools outside kovra: Debian's stock `age` and `age-keygen`, and Python's `cryptography`
//! to verify and forge signed packages.

use super::*;

// ---------------------------------------------------------------------------------------
// Stock age
// ---------------------------------------------------------------------------------------

pub(super) fn age_keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .expect("age-keygen (apt-get install age)");
    assert!(out.status.success(), "age-keygen: {}", describe(&out));
    let out = Command::new("age-keygen")
        .arg("-y")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "age-keygen -y: {}", describe(&out));
    (path, stdout(&out).trim().to_string())
}

/// `age -d -i IDENTITY -o OUT FILE`: the outer layer opened, which must succeed.
pub(super) fn age_decrypt_outer(identity: &Path, file: &Path, out: &Path) {
    let o = Command::new("age")
        .args(["-d", "-i"])
        .arg(identity)
        .arg("-o")
        .arg(out)
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "age -d -i: {}", describe(&o));
}

/// `age -r RECIPIENT -a -o OUT IN`, no terminal needed.
pub(super) fn age_encrypt_to(recipient: &str, input: &Path, out: &Path) {
    let _ = std::fs::remove_file(out);
    let o = Command::new("age")
        .args(["-r", recipient, "-a", "-o"])
        .arg(out)
        .arg(input)
        .stdin(Stdio::null())
        .output()
        .expect("age");
    assert!(o.status.success(), "age -r: {}", describe(&o));
}

/// `age -d -i IDENTITY FILE | age -d` with `passphrase` at the prompt; the plaintext, or
/// the failing run.
pub(super) fn age_open_both(
    h: &Home,
    identity: &Path,
    file: &Path,
    passphrase: &str,
) -> Result<Vec<u8>, Run> {
    let out = h.root.join(format!("age-plain-{}", next()));
    let line = format!(
        "age -d -i '{}' '{}' | age -d -o '{}'",
        identity.display(),
        file.display(),
        out.display()
    );
    let run = sh_pty(h, &h.root, &line, passphrase);
    let plain = std::fs::read(&out);
    let _ = std::fs::remove_file(&out);
    match plain {
        Ok(p) if run.code == Some(0) => Ok(p),
        _ => Err(run),
    }
}

/// Both layers opened with stock age, which must succeed: the payload decoded.
pub(super) fn age_open_payload(
    h: &Home,
    identity: &Path,
    file: &Path,
    token: &str,
) -> (Value, Vec<u8>, Value) {
    let plain =
        age_open_both(h, identity, file, token).unwrap_or_else(|r| panic!("{}", r.describe()));
    decode_payload(&plain)
}

/// `age -p -o OUT IN` with `passphrase` typed twice.
pub(super) fn age_encrypt_passphrase(h: &Home, input: &Path, out: &Path, passphrase: &str) {
    let _ = std::fs::remove_file(out);
    let line = format!("age -p -o '{}' '{}'", out.display(), input.display());
    let run = sh_pty(h, &h.root, &line, passphrase);
    assert_eq!(run.code, Some(0), "age -p: {}", run.describe());
}

/// The inner (token) layer built by hand, as an age scrypt file at work factor 2^`log_n`
/// (Python's `cryptography`; age v1 as specified at age-encryption.org/v1). kovra seals at
/// 2^15 and opens at most 2^16, while stock `age -p` uses 2^18, so forged packages need this.
/// Panics without the Python module.
pub(super) fn seal_token_layer(input: &Path, out: &Path, passphrase: &str, log_n: u32) {
    let script = r#"
import base64, hashlib, hmac, os, sys
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
def b64(b): return base64.b64encode(b).decode().rstrip("=")
def hkdf(ikm, salt, info): return HKDF(hashes.SHA256(), 32, salt, info).derive(ikm)
pt = open(sys.argv[1], "rb").read(); log_n = int(sys.argv[3])
pw = sys.stdin.buffer.read().rstrip(b"\n")
fk = os.urandom(16); salt = os.urandom(16)
k = Scrypt(salt=b"age-encryption.org/v1/scrypt" + salt, length=32, n=2**log_n, r=8, p=1).derive(pw)
body = ChaCha20Poly1305(k).encrypt(b"\x00" * 12, fk, None)
hdr = "age-encryption.org/v1\n-> scrypt %s %d\n%s\n---" % (b64(salt), log_n, b64(body))
mac = hmac.new(hkdf(fk, b"", b"header"), hdr.encode(), hashlib.sha256).digest()
out = hdr.encode() + b" " + b64(mac).encode() + b"\n"
nonce = os.urandom(16); aead = ChaCha20Poly1305(hkdf(fk, nonce, b"payload"))
chunks = [pt[i:i + 65536] for i in range(0, len(pt), 65536)] or [b""]
out += nonce
for i, c in enumerate(chunks):
    last = b"\x01" if i == len(chunks) - 1 else b"\x00"
    out += aead.encrypt(i.to_bytes(11, "big") + last, c, None)
open(sys.argv[2], "wb").write(out)
"#;
    let _ = std::fs::remove_file(out);
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(input)
        .arg(out)
        .arg(log_n.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), passphrase.as_bytes()).unwrap();
    drop(child.stdin.take());
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "sealing the token layer (python3 cryptography): {}",
        describe(&o)
    );
}

/// The payload of §2, decoded: (payload, manifest bytes as embedded, manifest).
pub(super) fn decode_payload(plain: &[u8]) -> (Value, Vec<u8>, Value) {
    let payload: Value = serde_json::from_slice(plain).unwrap_or_else(|e| {
        panic!(
            "payload is not JSON ({e}): {}",
            String::from_utf8_lossy(plain)
        )
    });
    assert_eq!(payload["format"], "kovra-share-v1", "{payload}");
    let m = STANDARD
        .decode(payload["manifest"].as_str().expect("manifest"))
        .expect("manifest is base64");
    let manifest: Value = serde_json::from_slice(&m).expect("manifest is JSON");
    (payload, m, manifest)
}

/// The Ed25519 signature over the manifest bytes verifies against the manifest's key
/// (Python's `cryptography`, an implementation independent of kovra's). `None` when the
/// module is missing.
pub(super) fn python_verify(
    manifest: &[u8],
    signature_b64: &str,
    signing_key: &str,
) -> Option<bool> {
    let script = r#"
import base64, sys
try:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError:
    print("missing"); sys.exit(0)
m = base64.b64decode(sys.argv[1]); s = base64.b64decode(sys.argv[2])
k = sys.argv[3].split(":", 1)[1]; k = base64.urlsafe_b64decode(k + "=" * (-len(k) % 4))
try:
    Ed25519PublicKey.from_public_bytes(k).verify(s, m); print("ok")
except Exception as e:
    print("bad", e)
"#;
    let out = Command::new("python3")
        .args([
            "-c",
            script,
            &STANDARD.encode(manifest),
            signature_b64,
            signing_key,
        ])
        .output()
        .unwrap();
    match stdout(&out).trim() {
        "missing" => None,
        "ok" => Some(true),
        _ => Some(false),
    }
}

/// A package built by hand, as an attacker with stock tools could: the manifest signed by
/// `signer` (a fresh Ed25519 key, Python's `cryptography`), sealed to `token` (at kovra's own
/// work factor, `seal_token_layer`) and with age -r `recipient`. Returns the package file, or `None` without the Python module.
pub(super) fn forge(
    h: &Home,
    manifest: &Value,
    signer_seed: &[u8; 32],
    token: &str,
    recipient: &str,
) -> Option<PathBuf> {
    let n = next();
    let m = serde_json::to_vec(manifest).unwrap();
    let script = r#"
import base64, json, sys
try:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
except ImportError:
    print("missing"); sys.exit(0)
k = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(sys.argv[1]))
m = base64.b64decode(sys.argv[2])
print(json.dumps({"format": "kovra-share-v1", "manifest": base64.b64encode(m).decode(),
                  "signature": base64.b64encode(k.sign(m)).decode()}))
"#;
    let out = Command::new("python3")
        .args([
            "-c",
            script,
            &hex::encode(signer_seed),
            &STANDARD.encode(&m),
        ])
        .output()
        .unwrap();
    let text = stdout(&out);
    if text.trim() == "missing" {
        return None;
    }
    assert!(out.status.success(), "forge: {}", describe(&out));
    let payload = h.root.join(format!("forged-payload-{n}.json"));
    std::fs::write(&payload, text.trim()).unwrap();
    let inner = h.root.join(format!("forged-inner-{n}.age"));
    seal_token_layer(&payload, &inner, token, 15);
    let pkg = h.root.join(format!("forged-{n}.age"));
    age_encrypt_to(recipient, &inner, &pkg);
    let _ = std::fs::remove_file(payload);
    Some(pkg)
}

/// The public half of an Ed25519 seed, as `ed25519:BASE64URL`.
pub(super) fn python_public(seed: &[u8; 32]) -> Option<String> {
    let script = r#"
import base64, sys
try:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives import serialization
except ImportError:
    print("missing"); sys.exit(0)
k = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(sys.argv[1])).public_key()
raw = k.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
print("ed25519:" + base64.urlsafe_b64encode(raw).decode().rstrip("="))
"#;
    let out = Command::new("python3")
        .args(["-c", script, &hex::encode(seed)])
        .output()
        .unwrap();
    let t = stdout(&out).trim().to_string();
    if t == "missing" { None } else { Some(t) }
}

pub(super) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut b).unwrap();
    b
}

pub(super) fn random_token() -> String {
    let s = base32(&random_bytes::<20>());
    s.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

pub(super) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
