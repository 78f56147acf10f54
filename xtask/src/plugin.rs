//! What `reload` and `watch` share: their arguments, finding a plugin crate and its library through
//! `cargo metadata`, and asking a running host to reload a library through its control socket.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use ecdysis_protocol::{Client, Command, ErrorChain, Reply, UpdateReport, find_default_socket};

use crate::cargo;

/// The arguments of `reload` and `watch`: `<plugin-crate> [--socket PATH] [--release]`.
pub struct Arguments {
    /// The plugin crate's package name.
    pub crate_name: String,
    /// The host's control socket: the one given, else the default one.
    pub socket: PathBuf,
    /// Whether to build with `--release`.
    pub release: bool,
}

impl Arguments {
    pub fn parse(task: &str, arguments: &[String]) -> Result<Arguments, String> {
        let usage = format!("usage: cargo xtask {task} <plugin-crate> [--socket PATH] [--release]");
        let (mut crate_name, mut socket, mut release) = (None, None, false);
        let mut arguments = arguments.iter();
        while let Some(argument) = arguments.next() {
            match argument.as_str() {
                "--release" => release = true,
                "--socket" => socket = Some(PathBuf::from(arguments.next().ok_or_else(|| format!("--socket needs a path\n{usage}"))?)),
                option if option.starts_with('-') => return Err(format!("unknown option `{option}`\n{usage}")),
                name if crate_name.is_none() => crate_name = Some(name.to_owned()),
                extra => return Err(format!("unexpected argument `{extra}`\n{usage}")),
            }
        }
        let crate_name = crate_name.ok_or(usage)?;
        let socket = match socket {
            Some(socket) => socket,
            None => find_default_socket()?,
        };
        Ok(Arguments { crate_name, socket, release })
    }

    /// The cargo profile's directory name.
    pub fn profile(&self) -> &'static str {
        if self.release { "release" } else { "debug" }
    }
}

/// A plugin crate of the workspace.
pub struct PluginCrate {
    /// Its package name.
    pub name: String,
    /// The directory of its `Cargo.toml`.
    pub directory: PathBuf,
    /// Where cargo puts its library for the chosen profile.
    pub library: PathBuf,
}

/// Finds the package `name` with `cargo metadata` (which also knows the target directory, whether
/// from `CARGO_TARGET_DIR` or cargo's configuration).
pub fn find(name: &str, profile: &str) -> Result<PluginCrate, String> {
    let output = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| format!("could not run cargo metadata: {error}"))?;
    if !output.status.success() {
        return Err(format!("cargo metadata failed with {}", output.status));
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|error| format!("cargo metadata printed something that is not JSON: {error}"))?;
    let target_directory = metadata["target_directory"].as_str().ok_or("cargo metadata names no target directory")?;
    let packages = metadata["packages"].as_array().ok_or("cargo metadata lists no packages")?;
    let cdylib = |package: &serde_json::Value| -> Option<String> {
        let targets = package["targets"].as_array()?;
        let library =
            targets.iter().find(|target| target["kind"].as_array().is_some_and(|kinds| kinds.iter().any(|kind| kind == "cdylib")))?;
        library["name"].as_str().map(str::to_owned)
    };
    let Some(package) = packages.iter().find(|package| package["name"] == name) else {
        let plugins: Vec<&str> =
            packages.iter().filter(|package| cdylib(package).is_some()).filter_map(|package| package["name"].as_str()).collect();
        return Err(format!("no package `{name}` in the workspace; its plugin crates are: {}", plugins.join(", ")));
    };
    let library_name = cdylib(package).ok_or_else(|| format!("`{name}` is not a plugin crate: it has no cdylib target"))?;
    let manifest = package["manifest_path"].as_str().ok_or_else(|| format!("cargo metadata gives no manifest path for `{name}`"))?;
    let directory = Path::new(manifest).parent().ok_or_else(|| format!("`{manifest}` has no parent directory"))?.to_owned();
    let library = Path::new(target_directory).join(profile).join(format!("lib{}.so", library_name.replace('-', "_")));
    Ok(PluginCrate { name: name.to_owned(), directory, library })
}

/// Why a reload did not go through.
pub enum ReloadError {
    /// The host answered with an error; nothing changed.
    Refused(String),
    /// The host could not be reached, or its answer was not understood.
    Failed(String),
}

/// Asks the host at `socket` to update the module `library` declares to it.
pub fn reload(socket: &Path, library: &Path) -> Result<UpdateReport, ReloadError> {
    let mut client =
        Client::connect(socket, Duration::from_secs(300)).map_err(|error| ReloadError::Failed(ErrorChain(&error).to_string()))?;
    let command = Command::Reload { module: None, library: library.to_owned(), allow_downgrade: false, force: false, lazy: false };
    match client.request(command).map_err(|error| ReloadError::Failed(ErrorChain(&error).to_string()))? {
        Reply::Report { report } => Ok(report),
        Reply::Error { message, .. } => Err(ReloadError::Refused(message)),
        other => Err(ReloadError::Failed(format!("the host answered a reload with {other:?}"))),
    }
}
