//! `tessera-wal`: inspect, verify and repair a tessera-storage log
//! directory. Every command but `cut` only reads.
//!
//! ```text
//! tessera-wal inspect <dir> [--records]   segments, records, problems
//! tessera-wal verify <dir>                exit status 1 if anything is wrong
//! tessera-wal dump <dir> <lsn>            one record's term and payload (hex)
//! tessera-wal cut <dir> <segment> <offset>
//!                                         cut the log at a damaged record:
//!                                         truncate <segment> at <offset> and
//!                                         remove every later segment (destructive:
//!                                         back the directory up first)
//! ```

use std::path::Path;
use std::process::ExitCode;

use tessera_storage::{FileSystem, StdFs, decode_frame, inspect_log};

const USAGE: &str = "usage:
  tessera-wal inspect <dir> [--records]
  tessera-wal verify <dir>
  tessera-wal dump <dir> <lsn>
  tessera-wal cut <dir> <segment-file> <offset>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let outcome = match words[..] {
        ["inspect", dir] => inspect(Path::new(dir), false),
        ["inspect", dir, "--records"] => inspect(Path::new(dir), true),
        ["verify", dir] => verify(Path::new(dir)),
        ["dump", dir, lsn] => match lsn.parse() {
            Ok(lsn) => dump(Path::new(dir), lsn),
            Err(_) => Err(format!("not an lsn: {lsn}")),
        },
        ["cut", dir, segment, offset] => match offset.parse() {
            Ok(offset) => cut(Path::new(dir), segment, offset),
            Err(_) => Err(format!("not an offset: {offset}")),
        },
        _ => Err(USAGE.to_string()),
    };
    match outcome {
        Ok(code) => code,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}

fn inspect(dir: &Path, records: bool) -> Result<ExitCode, String> {
    let inspection = inspect_log(&StdFs, dir, records).map_err(|e| e.to_string())?;
    print!("{inspection}");
    Ok(ExitCode::SUCCESS)
}

fn verify(dir: &Path) -> Result<ExitCode, String> {
    let inspection = inspect_log(&StdFs, dir, false).map_err(|e| e.to_string())?;
    if inspection.problems.is_empty() {
        println!("{}: no problems found", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &inspection.problems {
        println!("PROBLEM: {problem}");
    }
    Ok(ExitCode::FAILURE)
}

fn dump(dir: &Path, lsn: u64) -> Result<ExitCode, String> {
    let inspection = inspect_log(&StdFs, dir, true).map_err(|e| e.to_string())?;
    for segment in &inspection.segments {
        let Some(record) = segment.records.iter().find(|record| record.lsn == lsn) else {
            continue;
        };
        let bytes = std::fs::read(&segment.file).map_err(|e| e.to_string())?;
        let at = bytes
            .get(record.offset as usize..)
            .ok_or("the segment changed while it was read")?;
        let frame = decode_frame(at, u32::MAX).map_err(|defect| defect.to_string())?;
        println!(
            "lsn {} term {} durable_through {} ({} bytes) in {} at offset {}",
            frame.lsn,
            frame.term,
            frame.durable_through,
            frame.payload.len(),
            segment.file.display(),
            record.offset
        );
        for line in frame.payload.chunks(32) {
            let hex: Vec<String> = line.iter().map(|byte| format!("{byte:02x}")).collect();
            println!("  {}", hex.join(" "));
        }
        return Ok(ExitCode::SUCCESS);
    }
    Err(format!("lsn {lsn} is not in {}", dir.display()))
}

fn cut(dir: &Path, segment: &str, offset: u64) -> Result<ExitCode, String> {
    let inspection = inspect_log(&StdFs, dir, false).map_err(|e| e.to_string())?;
    let position = inspection
        .segments
        .iter()
        .position(|s| s.file.file_name().is_some_and(|name| name == segment))
        .ok_or_else(|| format!("{segment} is not a segment of {}", dir.display()))?;
    let fs = StdFs;
    for later in inspection.segments[position + 1..].iter().rev() {
        fs.remove_file(&later.file).map_err(|e| e.to_string())?;
        fs.sync_dir(dir).map_err(|e| e.to_string())?;
        println!("removed {}", later.file.display());
    }
    let path = &inspection.segments[position].file;
    let file = fs.open(path).map_err(|e| e.to_string())?;
    file.set_len(offset).map_err(|e| e.to_string())?;
    file.sync_data().map_err(|e| e.to_string())?;
    println!("cut {} at offset {offset}", path.display());
    Ok(ExitCode::SUCCESS)
}
