//! `kovra-full`: every command, and the daemon.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    kovra_cli::full_main()
}
