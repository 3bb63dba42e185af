//! `kovra`: `run`, `status` and `list` here; every other command in `kovra-full`.
#![forbid(unsafe_code)]

#[global_allocator]
static ALLOCATOR: kovra_cli::arena::Arena = kovra_cli::arena::Arena;

fn main() -> std::process::ExitCode {
    kovra_cli::front_main()
}
