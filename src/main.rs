//! The `masspay-sandbox` binary. Everything it does is the library's [`masspay_sandbox::cli`]
//! (flags, logging, serve until SIGINT/SIGTERM), compiled there once.

fn main() -> std::process::ExitCode {
    masspay_sandbox::cli::main()
}
