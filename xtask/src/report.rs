//! `cargo xtask bench [--quick] [OPTIONS]`: the benchmark report. Builds the release plugins and
//! `kv-server` this report measures, then the benchmark crate (`benchmarks/`, a workspace of its own
//! so that plotters and hot-lib-reloader stay out of the project's builds) into the same target
//! directory, and runs it; it writes `BENCHMARKS.md` at the repository root and its plots under
//! `benchmarks/plots/`.

use std::process::Command;

use crate::{cargo, run, target_dir, workspace_root};

pub fn report(arguments: &[String]) -> Result<(), String> {
    if arguments.iter().any(|argument| argument == "--help" || argument == "-h") {
        println!("{}", crate::USAGE);
        return Ok(());
    }
    eprintln!("building kv-v1, kv-v2, kv-server, counter-v1 and counter-v2 (release)…");
    run(cargo().args(["build", "--release", "-p", "kv-v1", "-p", "kv-v2", "-p", "kv-server", "-p", "counter-v1", "-p", "counter-v2"]))?;
    eprintln!("building the benchmark report and its hot-lib-reloader library (release)…");
    let root = workspace_root();
    let manifest = root.join("benchmarks").join("Cargo.toml");
    run(cargo().env("CARGO_TARGET_DIR", target_dir()).args(["build", "--release", "--workspace", "--manifest-path"]).arg(&manifest))?;
    let release = target_dir().join("release");
    let mut shown = "cargo xtask bench".to_owned();
    for argument in arguments {
        shown.push(' ');
        shown.push_str(argument);
    }
    let mut benchmark = Command::new(release.join("ecdysis-benchmarks"));
    benchmark
        .current_dir(&root)
        .arg("--artifacts")
        .arg(&release)
        .arg("--hot-lib")
        .arg(release.join("libhot_bench_lib.so"))
        .arg("--output")
        .arg(root.join("BENCHMARKS.md"))
        .arg("--plots")
        .arg(root.join("benchmarks").join("plots"))
        .args(["--command", &shown])
        .args(arguments);
    run(&mut benchmark)
}
