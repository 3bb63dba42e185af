//! `populate`: a vault home with N records, written through kovra-core exactly as the
//! daemon writes them (one transaction, one audit entry and one fsync per record), with the
//! default Argon2id parameters so the real daemon unlocks it with the real cost.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use kovra_core::audit::AuditEntry;
use kovra_core::coord::Coordinate;
use kovra_core::crypto::KdfParams;
use kovra_core::model::{DEFAULT_PRODUCTION_ENVS, Metadata, Sensitivity, VaultName};
use kovra_core::store::{LockedStore, now};
use serde_json::json;
use zeroize::Zeroizing;

use crate::say;

const ENVS: [&str; 4] = ["dev", "staging", "test", "prod"];
const GROUPS: [&str; 8] = [
    "db", "api", "aws", "stripe", "github", "smtp", "redis", "oauth",
];

/// The first line of the passphrase file, as the CLI reads it.
pub(crate) fn read_passphrase(path: &Path) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let mut bytes = Zeroizing::new(Vec::new());
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .with_context(|| format!("reading the passphrase file {}", path.display()))?;
    if let Some(end) = bytes.iter().position(|&b| b == b'\n') {
        bytes.truncate(end);
    }
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
    if bytes.len() < 8 {
        bail!("the passphrase must be at least 8 characters (the daemon's minimum)");
    }
    Ok(bytes)
}

/// The filesystem type holding `path`, from the longest matching mount point.
pub fn filesystem_of(path: &Path) -> Option<(String, PathBuf)> {
    let path = std::fs::canonicalize(path).ok()?;
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (_, mount, fstype) = (f.next()?, f.next()?, f.next()?);
            let mount = PathBuf::from(mount.replace("\\040", " "));
            path.starts_with(&mount)
                .then(|| (fstype.to_string(), mount))
        })
        .max_by_key(|(_, m)| m.as_os_str().len())
}

fn random_value() -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let mut raw = Zeroizing::new([0u8; 24]);
    getrandom::fill(raw.as_mut()).map_err(|e| anyhow::anyhow!("getrandom: {e}"))?;
    Ok(Zeroizing::new(hex::encode(raw.as_ref()).into_bytes()))
}

pub(crate) fn entry(action: &str, coordinate: Option<&Coordinate>) -> AuditEntry {
    AuditEntry {
        action: action.to_string(),
        coordinate: coordinate.map(|c| c.to_string()),
        vault: Some(VaultName::Global.label()),
        surface: "cli".into(),
        origin: "human".into(),
        decision: if action == "add" { "allow" } else { "ok" }.into(),
        pid: Some(std::process::id()),
        exe: std::env::current_exe()
            .ok()
            .map(|p| p.display().to_string()),
        detail: Some("kovra-bench populate".into()),
        ..AuditEntry::default()
    }
}

pub fn run(home: &Path, records: usize, passphrase_file: &Path, json: bool) -> anyhow::Result<()> {
    let passphrase = read_passphrase(passphrase_file)?;
    if LockedStore::exists(home) {
        bail!(
            "{} already holds a vault; populate needs a fresh home",
            home.display()
        );
    }
    let kdf = KdfParams::default();
    let t0 = Instant::now();
    let mut store = LockedStore::create(home, &passphrase, kdf)
        .with_context(|| format!("creating a vault at {}", home.display()))?;
    store
        .create_vault(&VaultName::Global, entry("init", None))
        .context("creating the global vault")?;
    let create_secs = t0.elapsed().as_secs_f64();

    let (fstype, mount) = filesystem_of(home).unwrap_or_else(|| ("unknown".into(), "?".into()));
    let on_tmpfs = fstype == "tmpfs";
    say(
        json,
        &format!(
            "populate: home {} on {fstype} ({}){}",
            home.display(),
            mount.display(),
            if on_tmpfs {
                " -- tmpfs: fsync per put costs nothing, so this measures kovra, not the disk"
            } else {
                " -- NOT tmpfs: every put fsyncs; expect this to be disk-bound (use /dev/shm)"
            }
        ),
    );
    say(
        json,
        &format!(
            "populate: vault created with Argon2id m={} KiB t={} p={} in {create_secs:.2}s",
            kdf.m_kib, kdf.t, kdf.p
        ),
    );

    let t1 = Instant::now();
    let mut last = Instant::now();
    let step = (records / 10).max(1);
    for i in 0..records {
        let env = ENVS[i % ENVS.len()];
        let group = GROUPS[(i / ENVS.len()) % GROUPS.len()];
        let coord = Coordinate::parse(&format!("secret:{env}/{group}/key-{i:07}"))
            .context("building a coordinate")?;
        let production = DEFAULT_PRODUCTION_ENVS.contains(&env);
        let sensitivity = if production {
            Sensitivity::High
        } else {
            [Sensitivity::Low, Sensitivity::Medium, Sensitivity::High][i % 3]
        };
        let stamp = now();
        let meta = Metadata {
            coordinate: coord.clone(),
            sensitivity,
            revealable: !production && i % 2 == 0,
            description: format!("benchmark record {i} ({group} credential for {env})"),
            created: stamp,
            updated: stamp,
            version: 0,
            totp: None,
            provider: None,
            provider_host: None,
            ssh_key: None,
            database: None,
        };
        let value = random_value()?;
        store
            .put(
                &VaultName::Global,
                meta,
                Some(&value),
                entry("add", Some(&coord)),
            )
            .with_context(|| format!("writing {coord}"))?;
        if (i + 1) % step == 0 || i + 1 == records {
            let done = i + 1;
            let rate = step as f64 / last.elapsed().as_secs_f64().max(1e-9);
            last = Instant::now();
            eprintln!("populate: {done}/{records} records ({rate:.0} puts/s recently)");
        }
    }
    let put_secs = t1.elapsed().as_secs_f64();
    let count = store.record_count();
    drop(store);
    let db = LockedStore::db_path(home);
    let size = |p: PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let db_bytes = size(db.clone()) + size(db.with_extension("db-wal"));
    let per_put_us = if records > 0 {
        put_secs * 1e6 / records as f64
    } else {
        0.0
    };
    say(
        json,
        &format!(
            "populate: {count} records in {put_secs:.2}s ({per_put_us:.1}us per put, {:.0} puts/s); vault.db+wal {:.1} MiB",
            records as f64 / put_secs.max(1e-9),
            db_bytes as f64 / (1024.0 * 1024.0)
        ),
    );
    if json {
        println!(
            "{}",
            json!({
                "kind": "populate",
                "home": home.display().to_string(),
                "filesystem": fstype,
                "tmpfs": on_tmpfs,
                "records": count,
                "create_secs": (create_secs * 100.0).round() / 100.0,
                "put_secs": (put_secs * 100.0).round() / 100.0,
                "per_put_us": (per_put_us * 10.0).round() / 10.0,
                "db_bytes": db_bytes,
                "kdf": {"m_kib": kdf.m_kib, "t": kdf.t, "p": kdf.p},
            })
        );
    }
    Ok(())
}
