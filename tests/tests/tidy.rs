//! The rules of the house that the compiler does not check, checked on the sources: where unsafe
//! code may be, that every crate opts into the workspace lints and says what it allows of unsafe
//! code, and that the host's floors import only downwards. ARCHITECTURE.md states these rules;
//! these tests keep it true.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use ecdysis_tests::workspace_root;

/// The only files of `host/` and `plugin-api/` that may contain unsafe code.
const UNSAFE_FILES: &[&str] = &["plugin-api/src/ffi.rs", "host/src/loading/open.rs", "host/src/calling/instance.rs"];

/// The host's floors, bottom first: a file may use what its own floor and the floors below define.
const HOST_FLOORS: &[&[&str]] =
    &[&["error", "clock"], &["loading"], &["calling"], &["updating"], &["host", "asynchronous"], &["operating"], &["builder"]];

/// Every `.rs` file under `directory`, except build output.
fn rust_files(directory: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![directory.to_owned()];
    while let Some(directory) = pending.pop() {
        for entry in std::fs::read_dir(&directory).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|name| name != "target" && name != ".git") {
                    pending.push(path);
                }
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn relative(path: &Path) -> String {
    path.strip_prefix(workspace_root()).unwrap().to_string_lossy().into_owned()
}

/// The code of a line: what precedes a `//` comment.
fn code(line: &str) -> &str {
    line.split("//").next().unwrap_or("")
}

/// Whether `text` uses the keyword `unsafe` (a block, function, impl, trait, extern block or
/// attribute), not merely the word inside another identifier such as `unsafe_code`.
fn uses_unsafe(text: &str) -> bool {
    text.match_indices("unsafe").any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + "unsafe".len()..].chars().next();
        !before.is_some_and(|character| character.is_alphanumeric() || character == '_')
            && !after.is_some_and(|character| character.is_alphanumeric() || character == '_')
    })
}

#[test]
fn unsafe_code_lives_only_in_the_ffi_files() {
    let mut found = Vec::new();
    for top in ["host", "plugin-api"] {
        for file in rust_files(&workspace_root().join(top)) {
            let source = std::fs::read_to_string(&file).unwrap();
            if source.lines().any(|line| uses_unsafe(code(line))) {
                found.push(relative(&file));
            }
        }
    }
    found.sort();
    let mut expected: Vec<String> = UNSAFE_FILES.iter().map(|file| (*file).to_owned()).collect();
    expected.sort();
    assert_eq!(found, expected, "unsafe code belongs in the FFI files alone (update ARCHITECTURE.md's unsafe map if this changes)");
}

/// Every package manifest of the workspace but the root. `fuzz/` and `benchmarks/` are left out: the
/// workspace excludes them (workspaces of their own, built by cargo-fuzz and `cargo xtask bench`
/// alone), so they have no workspace lints to opt into.
fn manifests() -> Vec<PathBuf> {
    let mut manifests = Vec::new();
    let mut pending = vec![workspace_root().to_owned()];
    while let Some(directory) = pending.pop() {
        for entry in std::fs::read_dir(&directory).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|name| name != "target" && name != ".git" && name != "src")
                    && path != workspace_root().join("fuzz")
                    && path != workspace_root().join("benchmarks")
                {
                    pending.push(path);
                }
            } else if path.file_name().is_some_and(|name| name == "Cargo.toml") && directory != workspace_root() {
                manifests.push(path);
            }
        }
    }
    manifests.sort();
    manifests
}

#[test]
fn every_crate_opts_into_the_workspace_lints() {
    let missing: Vec<String> = manifests()
        .into_iter()
        .filter(|manifest| !std::fs::read_to_string(manifest).unwrap().contains("[lints]\nworkspace = true"))
        .map(|manifest| relative(&manifest))
        .collect();
    assert!(missing.is_empty(), "these crates do not opt into [workspace.lints]: {missing:?}");
}

#[test]
fn every_crate_root_says_what_it_allows_of_unsafe_code() {
    let mut wrong = Vec::new();
    for manifest in manifests() {
        let directory = manifest.parent().unwrap();
        let mut roots: Vec<PathBuf> =
            ["src/lib.rs", "src/main.rs"].iter().map(|root| directory.join(root)).filter(|root| root.exists()).collect();
        for targets in ["examples", "benches", "tests"] {
            let Ok(entries) = std::fs::read_dir(directory.join(targets)) else { continue };
            for entry in entries {
                let path = entry.unwrap().path();
                let root = if path.is_dir() { path.join("main.rs") } else { path };
                if root.extension().is_some_and(|extension| extension == "rs") && root.exists() {
                    roots.push(root);
                }
            }
        }
        for root in roots {
            let source = std::fs::read_to_string(&root).unwrap();
            let lines: Vec<&str> = source.lines().collect();
            let forbids = source.contains("#![forbid(unsafe_code)]");
            // The FFI crates and the test binaries deny it, allowing it where a file or fixture
            // says why; a fixture that is all about unsafe code allows it with a comment above.
            let denies = source.contains("#![deny(unsafe_code)]");
            let allows_with_a_reason = lines.iter().enumerate().any(|(index, line)| {
                line.trim() == "#![allow(unsafe_code)]" && index > 0 && lines[index - 1].trim_start().starts_with("//")
            });
            if !(forbids || denies || allows_with_a_reason) {
                wrong.push(relative(&root));
            }
        }
    }
    assert!(wrong.is_empty(), "these crate roots neither forbid unsafe code nor say why they need it: {wrong:?}");
}

/// The floor of a top-level module of the host, by name.
fn host_floor(module: &str) -> Option<usize> {
    HOST_FLOORS.iter().position(|floor| floor.contains(&module))
}

#[test]
fn the_hosts_floors_import_only_downwards() {
    let source_root = workspace_root().join("host/src");
    let mut upward = Vec::new();
    for file in rust_files(&source_root) {
        let path = file.strip_prefix(&source_root).unwrap();
        let module = path.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned();
        if module == "lib" {
            continue;
        }
        let floor = host_floor(&module).unwrap_or_else(|| panic!("host/src/{} is on no floor; add it to HOST_FLOORS", path.display()));
        let source = std::fs::read_to_string(&file).unwrap();
        for (number, line) in source.lines().enumerate() {
            let line = code(line);
            for (at, _) in line.match_indices("crate::") {
                let used: String =
                    line[at + "crate::".len()..].chars().take_while(|character| character.is_alphanumeric() || *character == '_').collect();
                // Paths through the crate root's re-exports (`crate::Host`) name no module; the
                // modules themselves are what floors are made of.
                if let Some(used_floor) = host_floor(&used)
                    && used_floor > floor
                {
                    upward.push(format!("host/src/{}:{}: `{}` uses `crate::{used}`", path.display(), number + 1, module));
                }
            }
        }
    }
    assert!(upward.is_empty(), "imports upwards, against ARCHITECTURE.md's floors:\n{}", upward.join("\n"));
}

#[test]
fn the_checks_see_what_they_check() {
    // The keyword finder finds the keyword, and only the keyword.
    assert!(uses_unsafe("let x = unsafe { f() };"));
    assert!(uses_unsafe("#[unsafe(no_mangle)]"));
    assert!(!uses_unsafe("#![forbid(unsafe_code)]"));
    assert!(!uses_unsafe("signature.unsafety.is_some()"));
    // The host has files on every floor.
    for floor in HOST_FLOORS {
        for module in *floor {
            let source_root = workspace_root().join("host/src");
            assert!(source_root.join(format!("{module}.rs")).exists() || source_root.join(module).is_dir(), "no module `{module}`");
        }
    }
}
