//! `sshclient-exec` (bench/sshclient.sh): one brokered command through kovra-sshclient
//! (connect, key exchange, pin check, publickey login, exec, close, all in this process)
//! against the same command through OpenSSH's `ssh` binary with the same key and host key,
//! interleaved: each round runs every client, the order rotating, so a busy moment of the machine
//! falls on all. Besides wall time per command, the client side's CPU time: this process's
//! own (getrusage SELF) around kovra's calls, and the `ssh` children's (getrusage CHILDREN).
//! The server's work (sshd forking a session, running the command) is in both wall times and
//! in neither CPU figure.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kovra_sshclient::{Limits, Target};
use nix::sys::resource::{UsageWho, getrusage};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::say;
use crate::stats::Summary;

pub struct ExecOptions<'a> {
    pub host: &'a str,
    pub port: u16,
    pub user: &'a str,
    /// The unencrypted OpenSSH private key file (a throwaway key the script made).
    pub key: &'a Path,
    /// The host key's `SHA256:…` fingerprint, kovra's pin.
    pub pin: &'a str,
    /// A known_hosts file with the host key, `ssh`'s pin.
    pub known_hosts: &'a Path,
    pub command: &'a str,
    pub rounds: usize,
    pub warmup: usize,
}

/// CPU time (user + system) of `who` so far.
fn cpu(who: UsageWho) -> anyhow::Result<Duration> {
    let u = getrusage(who).context("getrusage")?;
    let t = |tv: nix::sys::time::TimeVal| {
        Duration::from_secs(tv.tv_sec() as u64) + Duration::from_micros(tv.tv_usec() as u64)
    };
    Ok(t(u.user_time()) + t(u.system_time()))
}

fn kovra_once(o: &ExecOptions<'_>, key: &Zeroizing<String>) -> anyhow::Result<Duration> {
    let target = Target {
        host: o.host.to_string(),
        port: o.port,
        user: o.user.to_string(),
    };
    let limits = Limits {
        connect_timeout: Duration::from_secs(10),
        run_timeout: Duration::from_secs(10),
        output_cap: 1 << 16,
    };
    let started = Instant::now();
    let outcome = kovra_sshclient::exec(
        &target,
        &[o.pin.to_string()],
        key,
        o.command,
        &limits,
        &mut |_, _| {},
    )
    .map_err(|e| anyhow::anyhow!("kovra-sshclient: {e}"))?;
    let took = started.elapsed();
    if outcome.exit_status != Some(0) {
        bail!("kovra-sshclient: the command ended with {outcome:?}");
    }
    Ok(took)
}

/// `ssh` with the same key and pin; `extra` are further `-o` options.
fn ssh_once(o: &ExecOptions<'_>, extra: &[&str]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let status = Command::new("ssh")
        .args(["-F", "/dev/null", "-i"])
        .arg(o.key)
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", o.known_hosts.display()))
        .args([
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityAgent=none",
        ])
        .args(extra)
        .args(["-p", &o.port.to_string(), "-l", o.user, o.host, o.command])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .context("ssh")?;
    let took = started.elapsed();
    if !status.success() {
        bail!("ssh: {status}");
    }
    Ok(took)
}

/// The clients compared: kovra's, `ssh` as configured by default (OpenSSH 9.2 picks
/// sntrup761x25519 for its key exchange), and `ssh` held to curve25519-sha256, the exchange
/// kovra's client settles on with that server, so the process start shows apart from the
/// algorithm.
const SIDES: [(&str, &[&str]); 3] = [
    ("kovra", &[]),
    ("ssh", &[]),
    ("ssh_c25519", &["-o", "KexAlgorithms=curve25519-sha256"]),
];

fn once(o: &ExecOptions<'_>, key: &Zeroizing<String>, side: usize) -> anyhow::Result<Duration> {
    match side {
        0 => kovra_once(o, key),
        n => ssh_once(o, SIDES[n].1),
    }
}

pub fn exec(o: &ExecOptions<'_>, json: bool) -> anyhow::Result<()> {
    let key = Zeroizing::new(std::fs::read_to_string(o.key).context("the key file")?);
    for _ in 0..o.warmup {
        for side in 0..SIDES.len() {
            once(o, &key, side)?;
        }
    }
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); SIDES.len()];
    let mut cpu_total = [Duration::ZERO; SIDES.len()];
    for round in 0..o.rounds {
        // Each round starts with the next side, so none always runs first.
        for k in 0..SIDES.len() {
            let side = (round + k) % SIDES.len();
            // kovra's work is in this process; ssh's in its (waited-for) children.
            let who = if side == 0 {
                UsageWho::RUSAGE_SELF
            } else {
                UsageWho::RUSAGE_CHILDREN
            };
            let before = cpu(who)?;
            samples[side].push(once(o, &key, side)?);
            cpu_total[side] += cpu(who)?.saturating_sub(before);
        }
    }
    let mut out = Map::new();
    for (side, (label, _)) in SIDES.iter().enumerate() {
        let summary = Summary::of(&samples[side]);
        let cpu_us = cpu_total[side].as_secs_f64() * 1e6 / samples[side].len().max(1) as f64;
        say(
            json,
            &format!(
                "{} client_cpu_per_command={cpu_us:.0}us",
                summary.line(label)
            ),
        );
        summary.insert_into(&mut out, label);
        out.insert(
            format!("{label}_cpu_us"),
            Value::from((cpu_us * 10.0).round() / 10.0),
        );
    }
    if json {
        println!("{}", Value::Object(out));
    }
    Ok(())
}
