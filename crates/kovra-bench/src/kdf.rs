//! `kdf`: the Argon2id derivation alone, with the parameters a new vault gets, to separate
//! the key-derivation cost of `kovra unlock` from process, socket and index overhead.

use std::time::Instant;

use kovra_core::crypto::{self, KdfParams};
use serde_json::json;

use crate::say;
use crate::stats::Summary;

pub fn run(iterations: usize, json: bool) -> anyhow::Result<()> {
    let kdf = KdfParams::default();
    let salt = [7u8; 16];
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        let key = crypto::derive_kek(b"kovra-bench passphrase", &salt, kdf)
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
        samples.push(t.elapsed());
        std::hint::black_box(&key);
    }
    let s = Summary::of(&samples);
    say(
        json,
        &format!(
            "argon2id m={} KiB t={} p={}: p50={:.1}ms min={:.1}ms (n={})",
            kdf.m_kib,
            kdf.t,
            kdf.p,
            s.p50 / 1e3,
            s.min / 1e3,
            s.n
        ),
    );
    if json {
        let mut m = serde_json::Map::new();
        m.insert("kind".into(), json!("kdf"));
        m.insert("m_kib".into(), json!(kdf.m_kib));
        m.insert("t".into(), json!(kdf.t));
        m.insert("p".into(), json!(kdf.p));
        s.insert_into(&mut m, "derive");
        println!("{}", serde_json::Value::Object(m));
    }
    Ok(())
}
