//! `kovra`: `run`, `status` and `list` here; every other command in `kovra-full`.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    kovra_cli::front_main()
}
