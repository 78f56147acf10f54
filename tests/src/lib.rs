//! Support for the end-to-end tests and benchmarks: builds the plugin libraries they load with
//! cargo, once per process, and finds them.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The cargo profile plugins are built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// `dev`: fast to build; what the tests use.
    Debug,
    /// `release`: what benchmarks use, so that they measure optimised plugin code.
    Release,
}

/// Built plugin libraries.
#[derive(Debug)]
pub struct Plugins {
    directory: PathBuf,
}

impl Plugins {
    /// The library of a sample plugin crate, e.g. `counter-v1` → `libcounter_v1.so`.
    #[must_use]
    pub fn sample(&self, crate_name: &str) -> PathBuf {
        self.directory.join(format!("lib{}.so", crate_name.replace('-', "_")))
    }

    /// The library of a defective test plugin, e.g. `transform_panics`.
    #[must_use]
    pub fn defective(&self, name: &str) -> PathBuf {
        self.directory.join("examples").join(format!("lib{name}.so"))
    }

    /// A binary built alongside the plugins: `ecdysis` (the command-line tool) or `counter-server`.
    #[must_use]
    pub fn binary(&self, name: &str) -> PathBuf {
        self.directory.join(name)
    }
}

/// The workspace root.
#[must_use]
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the tests crate lives in the workspace root")
}

/// Builds the sample and test plugins with cargo (once per process and profile) and returns where
/// they are. Cargo prints its progress to stderr, which the test harness captures.
///
/// # Panics
/// When cargo cannot be run or the build fails; the message includes cargo's output.
pub fn plugins(profile: Profile) -> &'static Plugins {
    static DEBUG: OnceLock<Plugins> = OnceLock::new();
    static RELEASE: OnceLock<Plugins> = OnceLock::new();
    let cell = match profile {
        Profile::Debug => &DEBUG,
        Profile::Release => &RELEASE,
    };
    cell.get_or_init(|| build(profile))
}

fn build(profile: Profile) -> Plugins {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_directory = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"));
    // A directory of its own: the outer `cargo test` may still hold the lock of the main one.
    let target_directory = target_directory.join("plugins");
    // The samples with their default targets (libraries and binaries), then the defective plugins,
    // which are examples.
    let builds: [&[&str]; 2] = [
        &[
            "-p",
            "counter-v1",
            "-p",
            "counter-v2",
            "-p",
            "counter-server",
            "-p",
            "ecdysis-cli",
            "-p",
            "kv-v1",
            "-p",
            "kv-v2",
            "-p",
            "kv-v3",
            "-p",
            "kv-v4",
            "-p",
            "kv-server",
        ],
        &["-p", "ecdysis-test-plugins", "--examples"],
    ];
    for packages in builds {
        let mut command = Command::new(&cargo);
        command.current_dir(workspace_root()).args(["build", "--quiet"]).args(packages).arg("--target-dir").arg(&target_directory);
        if profile == Profile::Release {
            command.arg("--release");
        }
        let output = command.output().expect("could not run cargo to build the plugins");
        assert!(output.status.success(), "building the plugins failed:\n{}", String::from_utf8_lossy(&output.stderr));
    }
    let directory = target_directory.join(match profile {
        Profile::Debug => "debug",
        Profile::Release => "release",
    });
    Plugins { directory }
}

/// The README's examples, compiled and run as doctests so that they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
