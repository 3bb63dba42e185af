//! `kovra-bench`: the benchmark driver behind `bench/run.sh`.
//!
//! - `populate` builds a large vault home directly through kovra-core, so the real daemon
//!   can open it later (the CLI would need one process and one round-trip per record).
//! - `roundtrip` times `status` requests against a running daemon, over one connection and
//!   with a new connection per request.
//! - `kdf` times the Argon2id derivation alone.
//! - `list` times `list` requests (streamed and one-frame) in phases (daemon work, transfer,
//!   client parse), to show where the time of `kovra list --json` goes.
//! - `redact` times the streaming redactor in-process over a large generated stream, in the
//!   daemon's 256 KiB reads; `redact-fixture` makes the vault, refs file and text file for the
//!   end-to-end `kovra run -- cat FILE` benchmark.
//!
//! - `broker` times a brokered call through the warm daemon against the same request made
//!   directly, interleaved, to a loopback HTTPS upstream (`bench/broker.sh` sets it up).
//! - `egress-upstream` is a loopback HTTPS upstream (h2 and HTTP/1.1, generated bodies) and
//!   `egress-client`, started by `kovra run`, times requests through the run's egress proxy
//!   against the same requests made directly (`bench/egress.sh`).
//!
//! - `load-mix`, `load-idle` and `load-flood` load one running daemon (`bench/load.sh`,
//!   issue 15): concurrent mixed clients with a lost-update check, thousands of idle
//!   connections while `kovra status` is timed, and a connection flood with the daemon's RSS.
//!
//! - `sshagent-serve` hosts kovra-sshagent with one in-memory key, and `sshagent-sign` times
//!   sign requests through it against OpenSSH's `ssh-agent` with the same key, interleaved
//!   (`bench/sshagent.sh`, issue 17).
//! - `sshclient-exec` times one command through kovra-sshclient (in process) against the same
//!   command through the `ssh` binary, interleaved (`bench/sshclient.sh`, issue 17).
//!
//! Nothing here runs under `cargo test`: benchmarks are driven by `bench/run.sh`.
#![forbid(unsafe_code)]

mod broker;
mod conns;
mod egress;
mod kdf;
mod list;
mod load;
mod populate;
mod redact;
mod roundtrip;
mod sshagent;
mod sshclient;
mod stats;
mod upstream;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "kovra-bench",
    about = "Benchmark driver for kovra (see bench/README.md)"
)]
struct Cli {
    /// Also print the results as one JSON object on stdout (after the human lines, which go
    /// to stderr when this is set).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a vault home with N records through kovra-core (no daemon involved).
    Populate {
        /// The vault home to create (must not hold a vault yet). Prefer a tmpfs path.
        #[arg(long)]
        home: PathBuf,
        /// How many records to write (one transaction each, as the daemon does).
        #[arg(long)]
        records: usize,
        /// The passphrase, first line of this file (as `kovra --passphrase-file`).
        #[arg(long)]
        passphrase_file: PathBuf,
    },
    /// Time `status` round-trips against the running daemon of $KOVRA_HOME.
    Roundtrip {
        /// Requests over one connection.
        #[arg(long, default_value_t = 10_000)]
        iterations: usize,
        /// Requests that each open a new connection (0 to skip).
        #[arg(long, default_value_t = 1_000)]
        connect_iterations: usize,
        /// Untimed requests sent first.
        #[arg(long, default_value_t = 200)]
        warmup: usize,
    },
    /// Time a brokered `api` call against the same request made directly (see bench/broker.sh).
    Broker {
        /// The loopback upstream every provider host resolves to.
        #[arg(long)]
        upstream: std::net::SocketAddr,
        /// The upstream's CA certificate (PEM).
        #[arg(long)]
        ca: PathBuf,
        /// A file holding the credential the vault holds (the direct request sends it).
        #[arg(long)]
        secret_file: PathBuf,
        #[arg(long, default_value_t = 1000)]
        iterations: usize,
        #[arg(long, default_value_t = 50)]
        warmup: usize,
    },
    /// Serve a loopback HTTPS upstream for bench/egress.sh until stdin closes (prints its port).
    EgressUpstream {
        #[arg(long, default_value = "127.0.0.1:0")]
        bind: std::net::SocketAddr,
        /// The leaf certificate (PEM) for the provider's host.
        #[arg(long)]
        cert: PathBuf,
        /// Its key (PEM).
        #[arg(long)]
        key: PathBuf,
        /// The credential requests must carry (`Authorization: Bearer VALUE`).
        #[arg(long)]
        secret_file: PathBuf,
    },
    /// Time requests through the egress proxy of the `kovra run` this runs in, against the
    /// same requests made directly (see bench/egress.sh).
    EgressClient {
        /// The loopback upstream the provider's host resolves to.
        #[arg(long)]
        upstream: std::net::SocketAddr,
        /// The upstream's CA certificate (PEM), for the direct leg.
        #[arg(long)]
        ca: PathBuf,
        /// The value the vault holds (the direct leg sends it).
        #[arg(long)]
        secret_file: PathBuf,
        /// The variable holding the placeholder.
        #[arg(long, default_value = "OPENAI_API_KEY")]
        var: String,
        /// The provider's host.
        #[arg(long, default_value = "api.openai.com")]
        host: String,
        #[arg(long, default_value_t = 2000)]
        iterations: usize,
        #[arg(long, default_value_t = 100)]
        warmup: usize,
        /// Size of the streamed body.
        #[arg(long, default_value_t = 100_000_000)]
        stream_bytes: u64,
        /// Streams each way (0 to skip).
        #[arg(long, default_value_t = 5)]
        stream_runs: usize,
    },
    /// Concurrent clients mixing status, list, show, set and `kovra run` against the
    /// running, unlocked daemon of $KOVRA_HOME; then every record is read back (lost updates).
    LoadMix {
        #[arg(long, default_value_t = 32)]
        clients: usize,
        #[arg(long, default_value_t = 60)]
        secs: u64,
        /// Records each client owns (created with `add`; the vault must not hold them yet).
        #[arg(long, default_value_t = 4)]
        records: usize,
        /// One operation in this many is a `kovra run --refs F -- true` (0: none).
        #[arg(long, default_value_t = 10)]
        run_every: usize,
        /// The `kovra` binary (default: beside kovra-bench).
        #[arg(long)]
        kovra: Option<PathBuf>,
        /// Where to write the clients' refs files.
        #[arg(long)]
        work: PathBuf,
    },
    /// Hold N silent connections to the running daemon and time `kovra status` meanwhile.
    LoadIdle {
        #[arg(long, default_value_t = 2000)]
        connections: usize,
        #[arg(long, default_value_t = 20)]
        status_runs: usize,
        /// Seconds to keep watching the connections after `kovra status` was timed.
        #[arg(long, default_value_t = 15)]
        hold_secs: u64,
        /// Seconds to wait for all the connects before reporting what there is.
        #[arg(long, default_value_t = 60)]
        connect_timeout_secs: u64,
        #[arg(long)]
        kovra: Option<PathBuf>,
    },
    /// N connections, each one `status` and closed, from several threads; the daemon's RSS.
    LoadFlood {
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        #[arg(long, default_value_t = 4)]
        threads: usize,
        /// Seconds to watch the RSS afterwards.
        #[arg(long, default_value_t = 5)]
        settle_secs: u64,
    },
    /// Time the Argon2id key derivation alone, with the default parameters.
    Kdf {
        #[arg(long, default_value_t = 5)]
        iterations: usize,
    },
    /// Time `list` requests in phases against the running, unlocked daemon of $KOVRA_HOME.
    List {
        #[arg(long, default_value_t = 5)]
        iterations: usize,
    },
    /// Time the streaming redactor in-process: N values, a generated log stream pushed in
    /// the daemon's 256 KiB reads, against a plain copy of the same reads.
    Redact {
        /// Bytes of output to push through (default 1 GiB).
        #[arg(long, default_value_t = 1 << 30)]
        bytes: u64,
        #[command(flatten)]
        values: ValueArgs,
        /// Bytes per push (the daemon reads 256 KiB at a time).
        #[arg(long, default_value_t = redact::DAEMON_READ)]
        read: usize,
    },
    /// Make the end-to-end redaction fixture: a vault home holding N values as low records
    /// (through kovra-core), a refs file injecting them all, and a text file with occurrences.
    RedactFixture {
        /// The vault home to create (must not hold a vault yet).
        #[arg(long)]
        home: PathBuf,
        /// The passphrase, first line of this file.
        #[arg(long)]
        passphrase_file: PathBuf,
        /// Where to write the refs file.
        #[arg(long)]
        refs: PathBuf,
        /// Where to write the text file.
        #[arg(long)]
        file: PathBuf,
        /// Size of the text file (default 1 GiB).
        #[arg(long, default_value_t = 1 << 30)]
        bytes: u64,
        #[command(flatten)]
        values: ValueArgs,
    },
    /// Serve kovra-sshagent on SOCKET with the key of an unencrypted OpenSSH key file,
    /// until stdin closes (bench/sshagent.sh).
    SshagentServe {
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        socket: PathBuf,
    },
    /// Time sign requests through each agent (LABEL=SOCKET), in interleaved batches.
    SshagentSign {
        /// An agent to time, as LABEL=SOCKET (repeat).
        #[arg(long = "agent", required = true, value_parser = sshagent::agent_arg)]
        agents: Vec<String>,
        /// The public key both agents hold.
        #[arg(long)]
        public: PathBuf,
        #[arg(long, default_value_t = 40)]
        rounds: usize,
        /// Signatures per agent per round.
        #[arg(long, default_value_t = 250)]
        batch: usize,
        /// Untimed signatures per agent first.
        #[arg(long, default_value_t = 200)]
        warmup: usize,
        /// Rounds of a fresh connection per signature (connect, list, sign); 0 skips them.
        #[arg(long, default_value_t = 0)]
        fresh: usize,
    },
    /// Time COMMAND through kovra-sshclient and through `ssh`, interleaved, one connection
    /// per command (bench/sshclient.sh).
    SshclientExec {
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long)]
        port: u16,
        #[arg(long)]
        user: String,
        /// An unencrypted OpenSSH private key file the server accepts.
        #[arg(long)]
        key: PathBuf,
        /// The host key's SHA256:… fingerprint (kovra's pin).
        #[arg(long)]
        pin: String,
        /// A known_hosts file with the host key (ssh's pin).
        #[arg(long)]
        known_hosts: PathBuf,
        #[arg(long, default_value = "true")]
        command: String,
        #[arg(long, default_value_t = 100)]
        rounds: usize,
        /// Untimed commands per side first.
        #[arg(long, default_value_t = 5)]
        warmup: usize,
    },
}

/// The values a redaction benchmark masks, and how often they occur in the text.
#[derive(Debug, clap::Args)]
struct ValueArgs {
    /// How many values.
    #[arg(long = "values", default_value_t = 100)]
    count: usize,
    /// Shortest value, in bytes.
    #[arg(long, default_value_t = 24)]
    min_len: usize,
    /// Longest value, in bytes.
    #[arg(long, default_value_t = 40)]
    max_len: usize,
    /// Occurrences of values (cycling through the encodings) per MiB of text.
    #[arg(long, default_value_t = 1)]
    per_mib: usize,
    /// Seed for values and text (random when absent).
    #[arg(long)]
    seed: Option<u64>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Populate {
            home,
            records,
            passphrase_file,
        } => populate::run(&home, records, &passphrase_file, cli.json),
        Command::Roundtrip {
            iterations,
            connect_iterations,
            warmup,
        } => roundtrip::run(iterations, connect_iterations, warmup, cli.json),
        Command::Kdf { iterations } => kdf::run(iterations, cli.json),
        Command::Broker {
            upstream,
            ca,
            secret_file,
            iterations,
            warmup,
        } => broker::run(
            &broker::Options {
                upstream,
                ca: &ca,
                secret_file: &secret_file,
                iterations,
                warmup,
            },
            cli.json,
        ),
        Command::EgressUpstream {
            bind,
            cert,
            key,
            secret_file,
        } => upstream::run(&upstream::Options {
            bind,
            cert: &cert,
            key: &key,
            secret_file: &secret_file,
        }),
        Command::EgressClient {
            upstream,
            ca,
            secret_file,
            var,
            host,
            iterations,
            warmup,
            stream_bytes,
            stream_runs,
        } => egress::run(
            &egress::Options {
                upstream,
                ca: &ca,
                secret_file: &secret_file,
                var: &var,
                host: &host,
                iterations,
                warmup,
                stream_bytes,
                stream_runs,
            },
            cli.json,
        ),
        Command::List { iterations } => list::run(iterations, cli.json),
        Command::LoadMix {
            clients,
            secs,
            records,
            run_every,
            kovra,
            work,
        } => kovra_path(kovra).and_then(|kovra| {
            load::run(
                &load::Options {
                    clients,
                    secs,
                    records,
                    run_every,
                    kovra: &kovra,
                    work: &work,
                },
                cli.json,
            )
        }),
        Command::LoadIdle {
            connections,
            status_runs,
            hold_secs,
            connect_timeout_secs,
            kovra,
        } => kovra_path(kovra).and_then(|kovra| {
            conns::idle(
                &conns::IdleOptions {
                    connections,
                    status_runs,
                    hold_secs,
                    connect_timeout_secs,
                    kovra: &kovra,
                },
                cli.json,
            )
        }),
        Command::LoadFlood {
            connections,
            threads,
            settle_secs,
        } => conns::flood(
            &conns::FloodOptions {
                connections,
                threads,
                settle_secs,
            },
            cli.json,
        ),
        Command::Redact {
            bytes,
            values,
            read,
        } => redact::run(
            &redact::Options {
                bytes,
                values: values.count,
                min_len: values.min_len,
                max_len: values.max_len,
                per_mib: values.per_mib,
                read,
                seed: values.seed,
            },
            cli.json,
        ),
        Command::RedactFixture {
            home,
            passphrase_file,
            refs,
            file,
            bytes,
            values,
        } => redact::fixture(
            &redact::Fixture {
                home: &home,
                passphrase_file: &passphrase_file,
                refs: &refs,
                file: &file,
                bytes,
                values: values.count,
                min_len: values.min_len,
                max_len: values.max_len,
                per_mib: values.per_mib,
                seed: values.seed,
            },
            cli.json,
        ),
        Command::SshagentServe { key, socket } => sshagent::serve(&key, &socket),
        Command::SshagentSign {
            agents,
            public,
            rounds,
            batch,
            warmup,
            fresh,
        } => sshagent::sign(
            &sshagent::SignOptions {
                agents: &agents,
                public: &public,
                rounds,
                batch,
                warmup,
                fresh,
            },
            cli.json,
        ),
        Command::SshclientExec {
            host,
            port,
            user,
            key,
            pin,
            known_hosts,
            command,
            rounds,
            warmup,
        } => sshclient::exec(
            &sshclient::ExecOptions {
                host: &host,
                port,
                user: &user,
                key: &key,
                pin: &pin,
                known_hosts: &known_hosts,
                command: &command,
                rounds,
                warmup,
            },
            cli.json,
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kovra-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Human lines go to stdout, or to stderr when stdout is reserved for the JSON object.
pub(crate) fn say(json: bool, line: &str) {
    if json {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

/// The envelope every benchmark request travels in: the CLI surface, agent origin.
pub(crate) fn envelope(request: kovra_proto::Request) -> kovra_proto::Envelope {
    let context = kovra_proto::Context {
        surface: kovra_proto::Surface::Cli,
        origin: kovra_proto::Origin::Agent,
        scope: None,
        project: None,
    };
    kovra_proto::Envelope::new(context, request)
}

/// The `kovra` binary: the one given, else the one built beside this benchmark.
fn kovra_path(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match given {
        Some(p) => Ok(p),
        None => Ok(std::env::current_exe()?.with_file_name("kovra")),
    }
}

pub(crate) fn paths() -> anyhow::Result<kovra_proto::paths::Paths> {
    Ok(kovra_proto::paths::Paths::from_env()?)
}
