//! Crash safety: a child process doing puts, update_data, deletes and moves is SIGKILLed at
//! random moments, many times. After each kill, a deep verify must find no corrupt entry (only
//! leftovers that repair removes), and every operation the child saw complete must be visible:
//! acknowledged data readable with the right bytes, acknowledged deletes gone, and for a move
//! exactly one of source and destination.
//!
//! One binary, two roles: with CACHENESS_CRASH_WORKER set it is the worker, else the test.
//! Iterations: CACHENESS_CRASH_ROUNDS (default 200).

use cacheness::Cache;
use rand::Rng;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KEYS: usize = 40;

fn params(i: usize) -> String {
    format!("{{\"crash\":{i}}}")
}

fn hex(d: &[u8]) -> String {
    hex::encode(Sha256::digest(d))
}

fn open(dir: &str) -> Cache {
    Cache::open(Some(&format!("{{\"dir\":{dir:?},\"durability\":\"full\"}}"))).expect("open")
}

/// Worker: random operations forever, logging "B op" before and "E op" after each.
fn worker(dir: &str, log: &str) {
    let cache = open(dir);
    let mut log = std::fs::OpenOptions::new().append(true).create(true).open(log).expect("log");
    let mut rng = rand::thread_rng();
    // Half the rounds run a worker that mostly moves, so kills land inside moves.
    let moves_first = std::env::var("CACHENESS_CRASH_MODE").as_deref() == Ok("moves");
    loop {
        let mut k = rng.gen_range(0..KEYS);
        if moves_first {
            // Prefer a source that exists, so the move has something to move.
            for _ in 0..10 {
                if cache.exists(&params(k)).expect("exists") {
                    break;
                }
                k = rng.gen_range(0..KEYS);
            }
        }
        let size = if rng.gen_bool(0.5) { rng.gen_range(1..4000) } else { rng.gen_range(17_000..200_000) };
        let data: Vec<u8> = (0..size).map(|_| rng.gen()).collect();
        let pick =
            if moves_first { [0, 4, 7, 7, 7, 7, 7, 7, 8, 9][rng.gen_range(0..10)] } else { rng.gen_range(0..10) };
        let op = match pick {
            0..=3 => format!("put {k} {}", hex(&data)),
            4..=5 => format!("upd {k} {}", hex(&data)),
            6 => format!("del {k}"),
            _ => format!("mov {k} {}", rng.gen_range(0..KEYS)),
        };
        // One write per line, so a kill never leaves half a line.
        log.write_all(format!("B {op}\n").as_bytes()).expect("log");
        let p = params(k);
        let ok = match op.split(' ').next() {
            Some("put") => cache.put(&p, &data, None).map(|_| true),
            Some("upd") => cache.update_data(&p, &data, None),
            Some("del") => cache.delete(&p),
            _ => {
                let dest: usize = op.rsplit(' ').next().and_then(|s| s.parse().ok()).unwrap_or(0);
                if dest == k {
                    Ok(false)
                } else {
                    cache.move_entry(&p, &params(dest), Some(r#"{"overwrite":true}"#))
                }
            }
        }
        .expect("operation failed in worker");
        log.write_all(format!("E {op} {ok}\n").as_bytes()).expect("log");
    }
}

/// An unfinished move: (source, destination, the known state of each before it; outer None =
/// unknown, inner None = absent).
type PendingMove = (usize, usize, Option<Option<String>>, Option<Option<String>>);

/// What the log says: the state each key must have, the keys the unfinished op may have
/// touched, and, if that op is a move, (source, destination, the state of both before it).
struct Expected {
    state: HashMap<usize, Option<String>>,
    pending: Vec<usize>,
    pending_move: Option<PendingMove>,
}

fn expected(log: &str) -> Expected {
    let mut state: HashMap<usize, Option<String>> = HashMap::new();
    let mut pending = Vec::new();
    let mut pending_move = None;
    for line in log.lines() {
        let w: Vec<&str> = line.split(' ').collect();
        let well_formed = w.len() >= 3 && (w[0] == "B" || w[0] == "E") && w[2].parse::<usize>().is_ok();
        if !well_formed {
            // Should not happen (one write per line); if it does, know nothing.
            state.clear();
            pending.clear();
            pending_move = None;
            continue;
        }
        let k: usize = w[2].parse().unwrap_or(0);
        if w[0] == "B" {
            // The op before this one never finished (its worker was killed): whatever it
            // touched is unknown from here on.
            for p in pending.drain(..) {
                state.remove(&p);
            }
            pending = vec![k];
            pending_move = None;
            if w[1] == "mov" {
                let d: usize = w[3].parse().unwrap_or(0);
                pending.push(d);
                pending_move = Some((k, d, state.get(&k).cloned(), state.get(&d).cloned()));
            }
            continue;
        }
        pending.clear();
        pending_move = None;
        let ok = w.last() == Some(&"true");
        match w[1] {
            "put" => {
                state.insert(k, Some(w[3].to_string()));
            }
            "upd" if ok => {
                state.insert(k, Some(w[3].to_string()));
            }
            "del" => {
                state.insert(k, None);
            }
            "mov" if ok => {
                let d: usize = w[3].parse().unwrap_or(0);
                // What moved is known only if the source's state is known.
                match state.get(&k).cloned() {
                    Some(v) => state.insert(d, v),
                    None => state.remove(&d),
                };
                state.insert(k, None);
            }
            _ => {}
        }
    }
    Expected { state, pending, pending_move }
}

fn main() {
    if let (Ok(dir), Ok(log)) = (std::env::var("CACHENESS_CRASH_WORKER"), std::env::var("CACHENESS_CRASH_LOG")) {
        worker(&dir, &log);
        return;
    }
    let rounds: usize = std::env::var("CACHENESS_CRASH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(200);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("cache").display().to_string();
    let log_path = tmp.path().join("ops.log").display().to_string();
    let exe = std::env::current_exe().expect("current exe");
    let mut rng = rand::thread_rng();
    let (mut checked, mut leftovers, mut ops, mut moves) = (0usize, 0usize, 0usize, 0usize);
    for round in 0..rounds {
        // One log for all rounds: state carries over, so moves of known values get checked.
        let logged = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
        let mut child = Command::new(&exe)
            .env("CACHENESS_CRASH_WORKER", &dir)
            .env("CACHENESS_CRASH_LOG", &log_path)
            .env("CACHENESS_CRASH_MODE", if round % 2 == 1 { "moves" } else { "mixed" })
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn worker");
        // Let it get going (its log grows), then kill it at a random moment.
        let start = Instant::now();
        while std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0) == logged
            && start.elapsed() < Duration::from_secs(20)
        {
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..60_000)));
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("wait");
        assert!(status.code().is_none(), "round {round}: worker exited by itself ({status}); it must be killed");

        let cache = open(&dir);
        let report: serde_json::Value = serde_json::from_str(&cache.verify(Some(r#"{"deep":true}"#)).unwrap()).unwrap();
        for issue in report["issues"].as_array().unwrap() {
            assert_eq!(issue["issue"], "orphaned_file", "round {round}: verify found corruption: {report}");
            leftovers += 1;
        }
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        ops = log.lines().filter(|l| l.starts_with("E ")).count();
        let Expected { state, pending, pending_move } = expected(&log);
        // Killed in the middle of a move of a known value: exactly one of source and
        // destination holds it, intact; the other is as it was (source) or gone.
        if let Some((src, dst, Some(Some(moved)), dst_before)) = &pending_move {
            if src != dst {
                let at = |k: usize| cache.get(&params(k)).unwrap().as_deref().map(hex);
                let (s, d) = (at(*src), at(*dst));
                let done = s.is_none() && d.as_deref() == Some(moved.as_str());
                let not_done = s.as_deref() == Some(moved.as_str())
                    && dst_before.as_ref().is_none_or(|before| d.as_deref() == before.as_deref());
                assert!(
                    done || not_done,
                    "round {round}: move {src}->{dst} half done: source {s:?}, destination {d:?}"
                );
                moves += 1;
            }
        }
        for (k, want) in &state {
            if pending.contains(k) {
                continue;
            }
            let got = cache.get(&params(*k)).unwrap_or_else(|e| panic!("round {round}: get {k}: {e}"));
            assert_eq!(got.as_deref().map(hex), *want, "round {round}: key {k} does not hold what was acknowledged");
            checked += 1;
        }
        let repaired: serde_json::Value = serde_json::from_str(&cache.repair(None).unwrap()).unwrap();
        let again: serde_json::Value = serde_json::from_str(&cache.verify(Some(r#"{"deep":true}"#)).unwrap()).unwrap();
        assert_eq!(again["ok"], true, "round {round}: verify after repair {repaired} is not clean: {again}");
        // Start each round from the state the last one left, so damage would accumulate.
    }
    println!(
        "crash: {rounds} SIGKILLs, {ops} acknowledged operations, {checked} key states checked, \
         {moves} interrupted moves checked, {leftovers} leftover files repaired"
    );
    println!("1 passed, 0 failed");
}
