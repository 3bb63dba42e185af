//! `kovra-full`: every command, and the daemon.
#![forbid(unsafe_code)]

/// Every heap block is wiped when it is freed. The daemon's own secret buffers wipe
/// themselves (`zeroize`), but plaintext also passes through copies it does not own: the
/// child's environment inside `std::process::Command`, a request's JSON while it is parsed,
/// HTTP and TLS buffers in the broker and the proxies. Freed unwiped, those bytes would stay
/// in the daemon's heap until something else reused them.
#[global_allocator]
static ALLOCATOR: zeroizing_alloc::ZeroAlloc<std::alloc::System> =
    zeroizing_alloc::ZeroAlloc(std::alloc::System);

fn main() -> std::process::ExitCode {
    kovra_cli::full_main()
}
