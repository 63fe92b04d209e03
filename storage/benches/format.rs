//! Decode + parse + extract over generated SS-MIX2 messages: messages/s and MB/s on one core.
//! Target: ≥ 100,000 messages/s for the whole pipeline.
//!
//!   cargo bench -p kizuna-storage --bench format
//!
//! Besides criterion's own report, a plain summary line per stage is printed so the figures can
//! be quoted (`format: decode+parse+extract … msg/s … MB/s`).
//!
//! Instruction counts, which unlike times do not depend on the neighbours' load: with
//! `KIZUNA_FORMAT_PROFILE=STAGE` (`decode`, `parse`, `extract`) the bench runs only that stage,
//! once, over [`PROFILE_MESSAGES`] messages inside `profile_run_STAGE` and exits, so
//!
//!   cargo bench -p kizuna-storage --bench format --no-run   # prints the binary's path
//!   KIZUNA_FORMAT_PROFILE=extract valgrind --tool=callgrind --collect-atstart=no \
//!       --toggle-collect='*profile_run_*' target/release/deps/format-HASH
//!
//! counts the instructions of that stage alone (`parse` and `extract` are given their input,
//! already decoded and parsed, outside `profile_run_STAGE`); divide the total by the message count.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kizuna_storage::ssmix2::{check, extract, hl7, jis};
use kizuna_storage::synth;

/// Enough messages to cover every data type the generator writes in realistic proportions.
const MESSAGES: usize = 20_000;

fn corpus() -> Vec<(String, Vec<u8>)> {
    synth::sample_messages(1, MESSAGES).expect("generator works")
}

/// One stage of the pipeline, returning something derived from its output so it is not optimised
/// away.
type Stage<'a> = &'a dyn Fn(&[u8]) -> usize;

fn pipeline(bytes: &[u8]) -> usize {
    let decoded = jis::decode(bytes).expect("generated files decode");
    let message = hl7::Message::parse(&decoded.text).expect("generated files parse");
    let clinical = extract::extract(&message);
    message.segment_count() + usize::from(clinical.patient.is_some())
}

/// CPU seconds this thread has used (user + system), from `/proc/thread-self/stat`. The build
/// and test machines are shared, so wall time measures the neighbours too; CPU time measures the
/// pipeline. `None` off Linux.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on every Linux this project targets.
    Some(ticks / 100.0)
}

/// Runs `stage` over all files until at least two CPU seconds (or wall seconds, off Linux) have
/// passed; returns (messages, wall seconds, CPU seconds).
fn measure(
    files: &[(String, Vec<u8>)],
    stage: &dyn Fn(&[u8]) -> usize,
) -> (usize, f64, Option<f64>) {
    let (wall0, cpu0) = (Instant::now(), thread_cpu_seconds());
    let mut messages = 0;
    let mut sink = 0usize;
    loop {
        for (_, b) in files {
            sink = sink.wrapping_add(stage(b));
        }
        messages += files.len();
        let spent = match (cpu0, thread_cpu_seconds()) {
            (Some(a), Some(b)) => b - a,
            _ => wall0.elapsed().as_secs_f64(),
        };
        if spent >= 2.0 {
            break;
        }
    }
    black_box(sink);
    let cpu = cpu0.zip(thread_cpu_seconds()).map(|(a, b)| b - a);
    (messages, wall0.elapsed().as_secs_f64(), cpu)
}

/// Plain figures per stage, per CPU second (one core) and per wall second. Returns the closing
/// one-line summary, printed after criterion's report.
fn summary(files: &[(String, Vec<u8>)]) -> String {
    let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    let average = bytes as f64 / files.len() as f64;
    let check = |b: &[u8]| {
        let components = ["999", "901", "9999013", "-", "ADT-00", "x"];
        check::check_file("bench", &components, b).findings.len()
    };
    let stages: [(&str, Stage<'_>); 3] = [
        ("decode", &|b| jis::decode(b).map_or(0, |d| d.text.len())),
        ("decode+parse", &|b| {
            jis::decode(b).map_or(0, |d| {
                hl7::Message::parse(&d.text).map_or(0, |m| m.segment_count())
            })
        }),
        ("decode+parse+extract", &pipeline),
    ];
    println!(
        "format: {} generated messages, {average:.0} bytes on average",
        files.len()
    );
    // CPU (or, off Linux, wall) seconds per message of each cumulative stage.
    let mut seconds = Vec::new();
    for (name, stage) in stages
        .into_iter()
        .chain([("check_file (+SHA-256)", &check as Stage<'_>)])
    {
        let (messages, wall, cpu) = measure(files, stage);
        seconds.push(cpu.unwrap_or(wall) / messages as f64);
        let per_cpu = cpu.map_or_else(
            || "n/a".to_owned(),
            |c| format!("{:.0}", messages as f64 / c),
        );
        println!(
            "format: {name:<22} {per_cpu:>9} msg/s per CPU-second, {:>7.1} MB/s; {:>9.0} msg/s wall",
            cpu.map_or(0.0, |c| messages as f64 * average / c / 1e6),
            messages as f64 / wall
        );
    }
    // Parse and extract alone are the differences of the cumulative stages (each measured over
    // two CPU seconds, so a difference carries both runs' noise).
    let figures = |name: &str, per_message: f64| {
        format!(
            "{name} {:.0} msg/s {:.1} MB/s",
            1.0 / per_message,
            average / per_message / 1e6
        )
    };
    let [decode, parse, all, ..] = seconds[..] else {
        return "format summary: n/a".to_owned();
    };
    format!(
        "format summary (per CPU-second, MB of ISO-2022-JP files; target decode+parse+extract >= 100000 msg/s): {}; {}; {}; {}",
        figures("decode", decode),
        figures("parse", parse - decode),
        figures("extract", all - parse),
        figures("decode+parse+extract", all)
    )
}

/// Messages of the instruction-count run: enough to cover every message type the generator
/// writes, few enough for valgrind.
const PROFILE_MESSAGES: usize = 2_000;

/// Decoding alone; callgrind counts the `profile_run_*` functions only.
#[inline(never)]
fn profile_run_decode(files: &[(String, Vec<u8>)]) -> usize {
    files
        .iter()
        .map(|(_, b)| jis::decode(b).map_or(0, |d| d.text.len()))
        .sum()
}

/// Parsing alone, over texts decoded before collection starts.
#[inline(never)]
fn profile_run_parse(decoded: &[String]) -> usize {
    decoded
        .iter()
        .map(|t| hl7::Message::parse(t).map_or(0, |m| m.segment_count()))
        .sum()
}

/// Extraction alone, over messages parsed before collection starts.
#[inline(never)]
fn profile_run_extract(messages: &[hl7::Message<'_>]) -> usize {
    messages
        .iter()
        .map(|m| {
            let c = extract::extract(m);
            usize::from(c.patient.is_some()) + c.lab_reports.len()
        })
        .sum()
}

/// `KIZUNA_FORMAT_PROFILE=STAGE`: one stage, once, for callgrind (see the module documentation).
fn profile(stage: &str) {
    let files = synth::sample_messages(1, PROFILE_MESSAGES).expect("generator works");
    let decoded: Vec<String> = files
        .iter()
        .filter_map(|(_, b)| jis::decode(b).ok().map(|d| d.text))
        .collect();
    let messages: Vec<hl7::Message<'_>> = decoded
        .iter()
        .filter_map(|t| hl7::Message::parse(t).ok())
        .collect();
    let sink = match stage {
        "decode" => profile_run_decode(&files),
        "parse" => profile_run_parse(&decoded),
        "extract" => profile_run_extract(&messages),
        _ => {
            eprintln!("KIZUNA_FORMAT_PROFILE: unknown stage {stage:?} (decode, parse, extract)");
            return;
        }
    };
    println!(
        "format profile: stage {stage}, {} messages (sink {sink})",
        files.len()
    );
}

fn bench(c: &mut Criterion) {
    if let Ok(stage) = std::env::var("KIZUNA_FORMAT_PROFILE") {
        profile(&stage);
        return;
    }
    let files = corpus();
    let closing = summary(&files);
    let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    let mut group = c.benchmark_group("format");
    group.throughput(Throughput::Elements(files.len() as u64));
    group.sample_size(10);
    group.bench_function("decode+parse+extract/messages", |b| {
        b.iter(|| files.iter().map(|(_, m)| pipeline(m)).sum::<usize>())
    });
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("decode+parse+extract/bytes", |b| {
        b.iter(|| files.iter().map(|(_, m)| pipeline(m)).sum::<usize>())
    });
    group.finish();
    println!("{closing}");
}

criterion_group!(benches, bench);
criterion_main!(benches);
