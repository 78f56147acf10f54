//! End-to-end tests: real plugin cdylibs built by cargo, loaded into a real host, called from real
//! threads, updated live.

// Unsafe code only in fixtures that say why (`#[allow(unsafe_code)]` on each).
#![deny(unsafe_code)]

mod asynchronous;
mod background;
mod blocking;
mod calls;
mod cli;
mod concurrency;
mod control;
mod crossing;
mod cycles;
mod differential;
mod durability;
mod errors;
mod faults;
mod kv;
mod kv_v4;
mod lazy;
mod operate;
mod probation;
mod refusals;
mod rehearsal;
mod soundness;
mod transactions;
mod update;
mod warm_restart;
mod watch;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use counter_interface::Counter;
use ecdysis_host::{Host, Module};
use ecdysis_tests::{Plugins, Profile, plugins};

/// The plugins, built in debug once for the whole test binary.
fn built() -> &'static Plugins {
    plugins(Profile::Debug)
}

fn sample(crate_name: &str) -> PathBuf {
    built().sample(crate_name)
}

fn defective(name: &str) -> PathBuf {
    built().defective(name)
}

/// A copy of the library of `crate_name`, in `directory` as `file_name`, cut to `1 / fraction` of
/// its length: as a copy or a build caught half-written would leave it.
fn cut_short(crate_name: &str, fraction: usize, directory: &std::path::Path, file_name: &str) -> PathBuf {
    let bytes = std::fs::read(sample(crate_name)).unwrap();
    let path = directory.join(file_name);
    std::fs::write(&path, &bytes[..bytes.len() / fraction]).unwrap();
    path
}

/// A host with short deadlines, so refusals that wait for a deadline stay quick.
fn host() -> Host {
    Host::builder().quiesce_timeout(Duration::from_millis(300)).hook_timeout(Duration::from_millis(1500)).build().unwrap()
}

/// Everything observable of a counter module's state.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    values: BTreeMap<String, i64>,
    total_increments: u64,
}

fn observe(counter: &Module<dyn Counter>) -> Observed {
    counter.call(|counter| {
        let keys = counter.keys().unwrap();
        let values = keys.into_iter().map(|key| {
            let value = counter.value(&key).unwrap().expect("a listed key has a value");
            (key, value)
        });
        Observed { values: values.collect(), total_increments: counter.total_increments().unwrap() }
    })
}

/// A host with `plugin` loaded and a few counters set: `apples` = 3 (2 increments), `pears` = -4,
/// `plums` = 1000.
fn loaded_with_state(plugin: PathBuf) -> (Host, Module<dyn Counter>) {
    let host = host();
    let counter = host.load::<dyn Counter>(plugin).unwrap();
    counter.call(|counter| {
        counter.increment("apples", 1).unwrap();
        counter.increment("apples", 2).unwrap();
        counter.increment("pears", -4).unwrap();
        counter.increment("plums", 1000).unwrap();
    });
    (host, counter)
}

/// Asserts the rule that lets `ErrorChain` show each cause once: no error in `error`'s chain repeats
/// its cause's message in its own, and the rendered chain has no segment twice.
#[track_caller]
fn assert_causes_not_repeated(error: &(dyn std::error::Error + 'static)) {
    let mut current = error;
    while let Some(cause) = current.source() {
        let (message, cause_message) = (current.to_string(), cause.to_string());
        assert!(!message.contains(&cause_message), "`{message}` repeats its cause `{cause_message}`");
        current = cause;
    }
    let rendered = ecdysis_host::ErrorChain(error).to_string();
    let segments: Vec<&str> = rendered.split(": ").collect();
    for (index, segment) in segments.iter().enumerate() {
        assert!(!segments[index + 1..].contains(segment), "`{segment}` appears twice in `{rendered}`");
    }
}

/// The files under `directory` that process `pid` maps, each once.
fn mapped_under(pid: u32, directory: &std::path::Path) -> Vec<String> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mut mapped: Vec<String> = maps
        .lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .filter(|path| std::path::Path::new(path).starts_with(directory))
        .map(str::to_owned)
        .collect();
    mapped.sort_unstable();
    mapped.dedup();
    mapped
}

/// The directory of private library copies of the host in process `pid`, found through the
/// libraries it maps.
fn library_directory_of(pid: u32) -> PathBuf {
    let mapped = mapped_under(pid, std::path::Path::new("/"));
    let copy = mapped.iter().find(|path| path.contains("/ecdysis-libraries-")).expect("the host maps a private copy of its plugin");
    std::path::Path::new(copy).parent().unwrap().to_owned()
}

/// How many file descriptors process `pid` has open.
fn open_file_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}
