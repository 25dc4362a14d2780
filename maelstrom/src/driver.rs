//! The driver loop: stdin lines in, stdout lines out, the system clock.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread;
use std::time::Duration;

use tessera_core::{Clock, Instant, SystemClock};

use crate::{MaelstromError, MaelstromNode, NodeStats, Output};

/// The longest stdin line read, in bytes; a longer one is skipped whole
/// (and logged). Raft's largest messages (1 MiB of entries, base64) fit
/// with room to spare.
pub const LINE_BYTES_MAX: usize = 16 << 20;
/// How many lines the reader thread may read ahead of the node.
pub const INBOX_LINES_MAX: usize = 1_024;
/// How long the loop sleeps when the node has no deadline.
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// What the reader thread hands the loop.
enum InboxItem {
    Line(String),
    Skipped(String),
    End(Option<io::Error>),
}

/// Runs a [`MaelstromNode`] on a byte stream in (stdin) and out (stdout),
/// logging to a third (stderr), with time from the system clock.
///
/// A reader thread splits the input into lines and feeds a bounded
/// channel; the loop hands each line to the node, ticks it when its
/// deadline comes, and writes every message it produces as one line,
/// flushed at once. The loop ends when the input ends.
#[derive(Debug)]
pub struct StdioDriver {
    node: MaelstromNode,
    clock: SystemClock,
}

impl StdioDriver {
    /// A driver for `node`.
    pub fn new(node: MaelstromNode) -> Self {
        StdioDriver {
            node,
            clock: SystemClock::new(),
        }
    }

    /// Runs until `input` ends; returns what the node refused.
    ///
    /// # Errors
    ///
    /// [`MaelstromError::Io`] if reading `input` or writing `output` fails
    /// (Maelstrom has gone away).
    pub fn run<R, W, L>(
        mut self,
        input: R,
        mut output: W,
        mut log: L,
    ) -> Result<NodeStats, MaelstromError>
    where
        R: Read + Send + 'static,
        W: Write,
        L: Write,
    {
        let (sender, inbox) = mpsc::sync_channel(INBOX_LINES_MAX);
        let reader = thread::Builder::new()
            .name("stdin".into())
            .spawn(move || read_lines(input, &sender))?;
        let result = self.serve(&inbox, &mut output, &mut log);
        // The reader stops at the end of input or when the channel closes;
        // if the loop stopped first it may sit blocked in a read, so it is
        // not joined.
        drop(inbox);
        drop(reader);
        result
    }

    fn serve(
        &mut self,
        inbox: &Receiver<InboxItem>,
        output: &mut impl Write,
        log: &mut impl Write,
    ) -> Result<NodeStats, MaelstromError> {
        let mut out = Vec::new();
        loop {
            let now = self.now();
            let deadline = self.node.next_deadline();
            if deadline.is_some_and(|deadline| deadline <= now) {
                self.node.tick(now, &mut out);
                write_outputs(&mut out, output, log)?;
                continue;
            }
            let wait = deadline.map_or(IDLE_WAIT, |deadline| deadline.duration_since(now));
            match inbox.recv_timeout(wait) {
                Ok(InboxItem::Line(line)) => {
                    let now = self.now();
                    self.node.handle_line(now, &line, &mut out);
                }
                Ok(InboxItem::Skipped(reason)) => out.push(Output::Log(reason)),
                Ok(InboxItem::End(None)) | Err(RecvTimeoutError::Disconnected) => {
                    let _ = writeln!(log, "input ended; {}", self.node.summary());
                    return Ok(self.node.stats());
                }
                Ok(InboxItem::End(Some(error))) => return Err(error.into()),
                Err(RecvTimeoutError::Timeout) => {}
            }
            write_outputs(&mut out, output, log)?;
        }
    }

    fn now(&self) -> Instant {
        self.clock.now()
    }
}

fn write_outputs(
    out: &mut Vec<Output>,
    output: &mut impl Write,
    log: &mut impl Write,
) -> Result<(), MaelstromError> {
    for item in out.drain(..) {
        match item {
            Output::Message(envelope) => {
                let mut line = envelope.to_line();
                line.push('\n');
                output.write_all(line.as_bytes())?;
                output.flush()?;
            }
            // Logging is best effort: a closed stderr must not stop the node.
            Output::Log(text) => {
                let _ = writeln!(log, "{text}");
            }
        }
    }
    Ok(())
}

/// Splits `input` into lines of at most [`LINE_BYTES_MAX`] bytes and sends
/// them until the input ends or the receiver is gone.
fn read_lines(input: impl Read, sender: &SyncSender<InboxItem>) {
    let mut reader = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        let item = match read_bounded_line(&mut reader, &mut line, LINE_BYTES_MAX) {
            Ok(LineRead::End) => InboxItem::End(None),
            Ok(LineRead::TooLong(bytes)) => InboxItem::Skipped(format!(
                "skipped a line of {bytes} bytes or more: the limit is {LINE_BYTES_MAX}"
            )),
            Ok(LineRead::Line) => match String::from_utf8(std::mem::take(&mut line)) {
                Ok(text) if text.trim().is_empty() => continue,
                Ok(text) => InboxItem::Line(text),
                Err(_) => InboxItem::Skipped("skipped a line that is not UTF-8".into()),
            },
            Err(error) => InboxItem::End(Some(error)),
        };
        let end = matches!(item, InboxItem::End(_));
        if sender.send(item).is_err() || end {
            return;
        }
    }
}

/// How a bounded line read ended.
#[derive(Debug, PartialEq, Eq)]
enum LineRead {
    /// A line is in the buffer (without its newline).
    Line,
    /// The line exceeded the limit and was skipped up to its newline; the
    /// bytes counted before giving up on it.
    TooLong(usize),
    /// The input ended (a final line without a newline is returned first).
    End,
}

fn read_bounded_line(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    max: usize,
) -> io::Result<LineRead> {
    line.clear();
    let mut skipped = 0;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            return Ok(if skipped > 0 {
                LineRead::TooLong(skipped)
            } else if line.is_empty() {
                LineRead::End
            } else {
                LineRead::Line
            });
        }
        let newline = available.iter().position(|byte| *byte == b'\n');
        let take = newline.unwrap_or(available.len());
        if skipped > 0 || line.len() + take > max {
            skipped += line.len() + take;
            line.clear();
        } else {
            line.extend_from_slice(&available[..take]);
        }
        let consumed = newline.map_or(take, |at| at + 1);
        reader.consume(consumed);
        if newline.is_some() {
            return Ok(if skipped > 0 {
                LineRead::TooLong(skipped)
            } else {
                LineRead::Line
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_skipped_whole_and_the_next_line_still_reads() {
        let text = format!("short\n{}\nnext\nlast", "x".repeat(100));
        let mut reader = BufReader::with_capacity(7, text.as_bytes());
        let mut line = Vec::new();
        let mut reads = Vec::new();
        loop {
            let read = read_bounded_line(&mut reader, &mut line, 10).unwrap();
            let end = read == LineRead::End;
            reads.push((read, String::from_utf8(line.clone()).unwrap()));
            if end {
                break;
            }
        }
        assert_eq!(reads[0], (LineRead::Line, "short".into()));
        assert!(matches!(reads[1].0, LineRead::TooLong(n) if n >= 10));
        assert_eq!(reads[2], (LineRead::Line, "next".into()));
        assert_eq!(reads[3], (LineRead::Line, "last".into()));
        assert_eq!(reads[4].0, LineRead::End);
    }
}
