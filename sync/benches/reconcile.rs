//! Reconciliation cost against the targets, printed as a table.
//!
//! `cargo bench -p kizuna-sync --bench reconcile -- [N]` (default N = 1,000,000). For each d, A and
//! B share N − d/2 items and each holds about d/2 of its own (d = 1: B holds one extra). Reports
//! round trips, bytes each way and wall time on one thread (the whole run is single-threaded, so
//! this is CPU time), for Kizuna's sessions, a naive full id-list exchange, and the `negentropy`
//! crate with its bundled vector storage.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use kizuna_sync::{Config, ItemId, Key, MemItemSet};
use negentropy::{Id, Negentropy, NegentropyStorageVector};

/// Items per set when no argument is given; the target size.
const N_DEFAULT: u64 = 1_000_000;

/// Differences measured, from the issue.
const DIFFERENCES: [u64; 5] = [0, 1, 100, 10_000, 100_000];

/// Frame cap for negentropy, equal to ours so byte and round counts compare.
const NEGENTROPY_FRAME_BYTES: u64 = 64 * 1024;

/// Spread of timestamps: one year in milliseconds, like a busy clinic's recent records.
const TIMESTAMP_SPAN_MS: u64 = 365 * 24 * 3600 * 1000;

const TIMESTAMP_BASE_MS: u64 = 1_700_000_000_000;

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn key(&mut self) -> Key {
        let mut id = [0u8; 32];
        for chunk in id.chunks_exact_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        Key::new(
            TIMESTAMP_BASE_MS + self.next() % TIMESTAMP_SPAN_MS,
            ItemId(id),
        )
    }
}

struct Row {
    round_trips: u64,
    bytes_a_to_b: u64,
    bytes_b_to_a: u64,
    millis: f64,
}

fn negentropy_run(a: &[Key], b: &[Key]) -> Result<Row, negentropy::Error> {
    let store = |keys: &[Key]| -> Result<NegentropyStorageVector, negentropy::Error> {
        let mut storage = NegentropyStorageVector::with_capacity(keys.len());
        for key in keys {
            storage.insert(key.timestamp_ms, Id::from_byte_array(key.id.0))?;
        }
        storage.seal()?;
        Ok(storage)
    };
    let (store_a, store_b) = (store(a)?, store(b)?);
    let start = Instant::now();
    let mut client = Negentropy::borrowed(&store_a, NEGENTROPY_FRAME_BYTES)?;
    let mut relay = Negentropy::borrowed(&store_b, NEGENTROPY_FRAME_BYTES)?;
    let mut query = client.initiate()?;
    let mut row = Row {
        round_trips: 0,
        bytes_a_to_b: 0,
        bytes_b_to_a: 0,
        millis: 0.0,
    };
    let (mut have, mut need) = (Vec::new(), Vec::new());
    loop {
        row.round_trips += 1;
        row.bytes_a_to_b += query.len() as u64;
        let reply = relay.reconcile(&query)?;
        row.bytes_b_to_a += reply.len() as u64;
        match client.reconcile_with_ids(&reply, &mut have, &mut need)? {
            Some(next) => query = next,
            None => break,
        }
    }
    row.millis = start.elapsed().as_secs_f64() * 1e3;
    Ok(row)
}

fn main() {
    let n = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse::<u64>().ok())
        .unwrap_or(N_DEFAULT);
    let mut rng = SplitMix(0x6b69_7a75_6e61);
    println!(
        "N = {n}; bytes are frame bytes; naive = A sends all N ids, B answers with the ids A lacks"
    );
    println!(
        "{:>7} | {:>4} {:>10} {:>10} {:>9} {:>8} {:>8} | {:>11} {:>7} | {:>4} {:>10} {:>10} {:>9}",
        "d",
        "RT",
        "A→B B",
        "B→A B",
        "ms",
        "B/diff",
        "target",
        "naive B",
        "ours/nv",
        "neRT",
        "ne A→B",
        "ne B→A",
        "ne ms"
    );
    for d in DIFFERENCES {
        let only_b = d.div_ceil(2);
        let only_a = d - only_b;
        let common: Vec<Key> = (0..n.saturating_sub(only_b)).map(|_| rng.key()).collect();
        let a_extra: Vec<Key> = (0..only_a).map(|_| rng.key()).collect();
        let b_extra: Vec<Key> = (0..only_b).map(|_| rng.key()).collect();
        let a_keys: Vec<Key> = common.iter().chain(&a_extra).copied().collect();
        let b_keys: Vec<Key> = common.iter().chain(&b_extra).copied().collect();
        drop(common);
        let (Ok(a), Ok(b)) = (
            MemItemSet::from_keys(a_keys.iter().copied()),
            MemItemSet::from_keys(b_keys.iter().copied()),
        ) else {
            eprintln!("generated a reserved timestamp; impossible with TIMESTAMP_SPAN_MS");
            return;
        };

        let start = Instant::now();
        let outcome = common::run(&a, &b, Config::default());
        let millis = start.elapsed().as_secs_f64() * 1e3;
        let found = (outcome.a_have.len() + outcome.a_need.len()) as u64;
        let ok = outcome.failures.is_empty() && outcome.a_done && outcome.b_done && found == d;
        let total = outcome.bytes_a_to_b + outcome.bytes_b_to_a;
        // The targets: d = 0 → 1 RT and < 1 KB; d ≤ 1,000 → ≤ 4 RT and ≤ 2·d·32 + 1 KB;
        // larger d → ≤ 2·d·32 bytes.
        let target_met = match d {
            0 => outcome.round_trips() == 1 && total < 1024,
            1..=1000 => outcome.round_trips() <= 4 && total <= 2 * d * 32 + 1024,
            _ => total <= 2 * d * 32,
        };
        let naive = a_keys.len() as u64 * 32 + only_b * 32;
        let per_diff = if d == 0 {
            String::from("-")
        } else {
            format!("{:.0}", total as f64 / d as f64)
        };
        let ne = negentropy_run(&a_keys, &b_keys);
        let ne_cols = match &ne {
            Ok(r) => format!(
                "{:>4} {:>10} {:>10} {:>9.1}",
                r.round_trips, r.bytes_a_to_b, r.bytes_b_to_a, r.millis
            ),
            Err(e) => format!("negentropy error: {e:?}"),
        };
        println!(
            "{:>7} | {:>4} {:>10} {:>10} {:>9.1} {:>8} {:>8} | {:>11} {:>7.4} | {}{}",
            d,
            outcome.round_trips(),
            outcome.bytes_a_to_b,
            outcome.bytes_b_to_a,
            millis,
            per_diff,
            if target_met { "met" } else { "MISSED" },
            naive,
            total as f64 / naive as f64,
            ne_cols,
            if ok { "" } else { "  (WRONG RESULT)" },
        );
    }
}
