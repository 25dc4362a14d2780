//! `tessera-kv`: the replicated key-value service's command line (see
//! `tessera-kv --help` and the `tessera_kv::cli` module).

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(tessera_kv::cli::main(std::env::args().skip(1).collect()))
}
