//! A small Maelstrom in a test: spawns `tessera-maelstrom` processes,
//! routes their stdout lines to each other's stdin as Maelstrom's network
//! does (dropping node-to-node traffic across a partition), and plays the
//! clients.

#![allow(dead_code)]

use std::collections::{BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant as WallInstant};

use serde_json::{Value, json};
use tessera_core::Instant;
use tessera_maelstrom::{Body, Envelope};

/// Stderr lines kept per node, for failure reports.
const LOG_LINES_KEPT: usize = 400;

struct NodeProcess {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    log: Arc<Mutex<VecDeque<String>>>,
    log_reader: Option<thread::JoinHandle<()>>,
}

/// A message that reached a client.
#[derive(Debug, Clone)]
pub(crate) struct Delivered {
    pub(crate) at: Instant,
    pub(crate) envelope: Envelope,
}

/// Routed and dropped traffic.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RouterStats {
    pub(crate) node_messages_routed: u64,
    pub(crate) node_messages_dropped: u64,
}

pub(crate) struct Cluster {
    nodes: Vec<NodeProcess>,
    lines: Receiver<(usize, String)>,
    isolated: BTreeSet<String>,
    start: WallInstant,
    client_inbox: VecDeque<Delivered>,
    next_msg_id: u64,
    pub(crate) stats: RouterStats,
}

impl Cluster {
    /// Starts `count` nodes `n1..` of `workload` (with `args` after it) and
    /// initialises them.
    pub(crate) fn start(workload: &str, count: usize, args: &[&str]) -> Cluster {
        let (sender, lines) = mpsc::channel();
        let mut nodes = Vec::new();
        for index in 0..count {
            let name = format!("n{}", index + 1);
            let mut child = Command::new(env!("CARGO_BIN_EXE_tessera-maelstrom"))
                .arg(workload)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn tessera-maelstrom");
            let stdout = child.stdout.take().expect("stdout piped");
            let sender = sender.clone();
            thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { return };
                    if sender.send((index, line)).is_err() {
                        return;
                    }
                }
            });
            let stderr = child.stderr.take().expect("stderr piped");
            let log = Arc::new(Mutex::new(VecDeque::new()));
            let kept = Arc::clone(&log);
            let log_reader = thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { return };
                    let mut kept = kept.lock().expect("log lock");
                    if kept.len() == LOG_LINES_KEPT {
                        kept.pop_front();
                    }
                    kept.push_back(line);
                }
            });
            let stdin = child.stdin.take();
            nodes.push(NodeProcess {
                name,
                child,
                stdin,
                log,
                log_reader: Some(log_reader),
            });
        }
        let mut cluster = Cluster {
            nodes,
            lines,
            isolated: BTreeSet::new(),
            start: WallInstant::now(),
            client_inbox: VecDeque::new(),
            next_msg_id: 1,
            stats: RouterStats::default(),
        };
        let names = cluster.names();
        for name in &names {
            let body = Body::new("init")
                .with("node_id", json!(name))
                .with("node_ids", json!(names));
            let reply = cluster
                .call("c0", name, body, Duration::from_secs(10))
                .unwrap_or_else(|| panic!("no init_ok from {name}"));
            assert_eq!(reply.body.kind, "init_ok", "{:?}", reply.body);
        }
        cluster
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// The time since the cluster started, as history time.
    pub(crate) fn now(&self) -> Instant {
        Instant::from_nanos(self.start.elapsed().as_nanos() as u64)
    }

    /// Sends `body` from `client` to `node`; returns its msg_id.
    pub(crate) fn send(&mut self, client: &str, node: &str, mut body: Body) -> u64 {
        let msg_id = self.next_msg_id;
        self.next_msg_id += 1;
        body.msg_id = Some(msg_id);
        let line = Envelope::new(client, node, body).to_line();
        self.write_line(node, &line);
        msg_id
    }

    /// Writes a raw line to `node`'s stdin.
    pub(crate) fn write_line(&mut self, node: &str, line: &str) {
        let process = self
            .nodes
            .iter_mut()
            .find(|n| n.name == node)
            .unwrap_or_else(|| panic!("no node {node}"));
        let stdin = process.stdin.as_mut().expect("stdin open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|error| panic!("write to {node}: {error}"));
    }

    /// Cuts `node` off from every other node (clients still reach it).
    pub(crate) fn isolate(&mut self, node: &str) {
        self.isolated.insert(node.to_string());
    }

    pub(crate) fn heal(&mut self) {
        self.isolated.clear();
    }

    /// Routes traffic for `duration`.
    pub(crate) fn pump(&mut self, duration: Duration) {
        let until = WallInstant::now() + duration;
        while self.pump_once(until) {}
    }

    /// Routes one line if one arrives before `until`; false at `until`.
    pub(crate) fn pump_once(&mut self, until: WallInstant) -> bool {
        let wait = until.saturating_duration_since(WallInstant::now());
        match self.lines.recv_timeout(wait) {
            Ok((from, line)) => {
                self.route(from, &line);
                true
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => panic!("every node's stdout closed"),
        }
    }

    fn route(&mut self, from: usize, line: &str) {
        let envelope = Envelope::parse(line).unwrap_or_else(|error| {
            panic!(
                "{} wrote a line that is not a message ({error}): {line}\n{}",
                self.nodes[from].name,
                self.logs()
            )
        });
        assert_eq!(
            envelope.src, self.nodes[from].name,
            "a node must send under its own name"
        );
        assert!(
            envelope.body.msg_id.is_some(),
            "every message carries a msg_id: {line}"
        );
        if self.nodes.iter().any(|n| n.name == envelope.dest) {
            let cut =
                self.isolated.contains(&envelope.src) || self.isolated.contains(&envelope.dest);
            if cut {
                self.stats.node_messages_dropped += 1;
            } else {
                self.stats.node_messages_routed += 1;
                let dest = envelope.dest.clone();
                self.write_line(&dest, line);
            }
        } else {
            let at = self.now();
            self.client_inbox.push_back(Delivered { at, envelope });
        }
    }

    /// The next message for any client, waiting until `until`.
    pub(crate) fn next_client_message(&mut self, until: WallInstant) -> Option<Delivered> {
        loop {
            if let Some(message) = self.client_inbox.pop_front() {
                return Some(message);
            }
            if !self.pump_once(until) {
                return None;
            }
        }
    }

    /// Sends a request and waits for its reply (other client traffic that
    /// arrives meanwhile is discarded).
    pub(crate) fn call(
        &mut self,
        client: &str,
        node: &str,
        body: Body,
        timeout: Duration,
    ) -> Option<Envelope> {
        let msg_id = self.send(client, node, body);
        let until = WallInstant::now() + timeout;
        while let Some(message) = self.next_client_message(until) {
            if message.envelope.dest == client && message.envelope.body.in_reply_to == Some(msg_id)
            {
                return Some(message.envelope);
            }
        }
        None
    }

    /// Calls until a reply that is not an error arrives, or `timeout`.
    pub(crate) fn call_until_ok(
        &mut self,
        client: &str,
        node: &str,
        body: Body,
        timeout: Duration,
    ) -> Envelope {
        let until = WallInstant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(WallInstant::now());
            assert!(
                !left.is_zero(),
                "no successful reply from {node} within {timeout:?}\n{}",
                self.logs()
            );
            let reply = self.call(client, node, body.clone(), left.min(Duration::from_secs(2)));
            if let Some(reply) = reply
                && reply.body.kind != "error"
            {
                return reply;
            }
            self.pump(Duration::from_millis(20));
        }
    }

    /// The mode `node` last reported entering on stderr (`raft mode: a → b
    /// at …` or `delta-sync mode: …`).
    pub(crate) fn last_mode(&self, node: &str) -> Option<String> {
        let process = self.nodes.iter().find(|n| n.name == node)?;
        let log = process.log.lock().expect("log lock");
        let line = log.iter().rev().find(|line| line.contains(" mode: "))?;
        let entered = line.split(" → ").nth(1)?;
        Some(entered.split(" at ").next()?.to_string())
    }

    /// The node that last reported leading (lin-kv), if any does now.
    pub(crate) fn leader(&self) -> Option<String> {
        self.names().into_iter().find(|name| {
            matches!(
                self.last_mode(name).as_deref(),
                Some("leading" | "degraded")
            )
        })
    }

    /// Every node's recent stderr, for failure messages.
    pub(crate) fn logs(&self) -> String {
        let mut text = String::new();
        for node in &self.nodes {
            text.push_str(&format!("--- {} stderr ---\n", node.name));
            for line in node.log.lock().expect("log lock").iter() {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }

    /// Closes every node's stdin and waits for the processes to exit (they
    /// stop at the end of their input); returns whether each exited
    /// cleanly, and their stderr (which ends with a summary line).
    pub(crate) fn shutdown(mut self) -> (Vec<bool>, String) {
        let statuses = self.close_all();
        (statuses, self.logs())
    }

    fn close_all(&mut self) -> Vec<bool> {
        let mut statuses = Vec::new();
        for node in &mut self.nodes {
            node.stdin.take();
        }
        let until = WallInstant::now() + Duration::from_secs(10);
        for node in &mut self.nodes {
            let status = loop {
                match node.child.try_wait() {
                    Ok(Some(status)) => break Some(status),
                    Ok(None) if WallInstant::now() < until => {
                        thread::sleep(Duration::from_millis(10))
                    }
                    _ => break None,
                }
            };
            if status.is_none() {
                let _ = node.child.kill();
                let _ = node.child.wait();
            }
            statuses.push(status.is_some_and(|s| s.success()));
            if let Some(reader) = node.log_reader.take() {
                let _ = reader.join();
            }
        }
        statuses
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.nodes.iter().any(|n| n.stdin.is_some()) {
            self.close_all();
        }
    }
}

/// A field of a reply body.
pub(crate) fn field<'a>(envelope: &'a Envelope, name: &str) -> &'a Value {
    envelope
        .body
        .fields
        .get(name)
        .unwrap_or_else(|| panic!("no `{name}` in {:?}", envelope.body))
}
