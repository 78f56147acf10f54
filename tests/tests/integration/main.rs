//! End-to-end tests: real plugin cdylibs built by cargo, loaded into a real host, called from real
//! threads, updated live.

mod calls;
mod cli;
mod concurrency;
mod control;
mod kv;
mod operate;
mod refusals;
mod soundness;
mod update;
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
