//! `tessera-maelstrom`: a Maelstrom node. See the crate documentation and
//! `docs/maelstrom.md`.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tessera_maelstrom::{MaelstromError, MaelstromNode, NodeOptions, StdioDriver, Workload};

/// The environment variable that may name the workload.
const WORKLOAD_ENV: &str = "TESSERA_MAELSTROM_WORKLOAD";

const USAGE: &str = "usage: tessera-maelstrom <lin-kv|g-counter|pn-counter|g-set|broadcast> \
[--snapshot-entries N] [--election-timeout-ms N] [--peer-timeout-ms N] (or set \
TESSERA_MAELSTROM_WORKLOAD, or name the executable tessera-maelstrom-<workload>)";

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().collect()) {
        Ok(parsed) => parsed,
        Err(error) => {
            eprintln!("tessera-maelstrom: {error}");
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let (workload, options) = options;
    let node = match MaelstromNode::new(workload, options) {
        Ok(node) => node,
        Err(error) => {
            eprintln!("tessera-maelstrom: {error}");
            return ExitCode::from(2);
        }
    };
    eprintln!("tessera-maelstrom: serving {workload}, waiting for init");
    match StdioDriver::new(node).run(
        std::io::stdin(),
        std::io::stdout().lock(),
        std::io::stderr(),
    ) {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tessera-maelstrom: stopped: {error}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(args: Vec<String>) -> Result<(Workload, NodeOptions), MaelstromError> {
    let usage = |reason: String| MaelstromError::Usage { reason };
    let mut workload = None;
    let mut options = NodeOptions {
        seed: seed(),
        ..NodeOptions::default()
    };
    let mut rest = args.iter().skip(1);
    let number = |flag: &str, value: Option<&String>| -> Result<u64, MaelstromError> {
        let value = value.ok_or_else(|| usage(format!("{flag} needs a number")))?;
        value
            .parse()
            .map_err(|_| usage(format!("{flag}: `{value}` is not a number")))
    };
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--snapshot-entries" => options.snapshot_entries = number(arg, rest.next())?,
            "--election-timeout-ms" => {
                options.election_timeout = Duration::from_millis(number(arg, rest.next())?);
            }
            "--peer-timeout-ms" => {
                options.peer_timeout = Duration::from_millis(number(arg, rest.next())?);
            }
            "-h" | "--help" => return Err(usage("help requested".into())),
            name if workload.is_none() && !name.starts_with('-') => {
                workload = Some(name.parse::<Workload>()?);
            }
            other => return Err(usage(format!("unexpected argument `{other}`"))),
        }
    }
    let workload = match workload {
        Some(workload) => workload,
        None => from_environment(args.first().map(String::as_str))?,
    };
    Ok((workload, options))
}

/// The workload from the environment variable, or from the executable's
/// name (`tessera-maelstrom-lin-kv`, or a link named `lin-kv`).
fn from_environment(program: Option<&str>) -> Result<Workload, MaelstromError> {
    if let Ok(name) = std::env::var(WORKLOAD_ENV) {
        return name.parse();
    }
    let file = program
        .and_then(|path| std::path::Path::new(path).file_name())
        .and_then(|name| name.to_str())
        .unwrap_or_default();
    Workload::ALL
        .into_iter()
        .find(|workload| {
            file == workload.name() || file.ends_with(&format!("-{}", workload.name()))
        })
        .ok_or_else(|| MaelstromError::Usage {
            reason: "no workload given".into(),
        })
}

/// A different seed at every start: Raft's election timeouts must differ
/// between nodes, and delta sync's incarnation between starts.
fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}
