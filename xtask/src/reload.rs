//! `cargo xtask reload <plugin-crate> [--socket PATH] [--release]`: builds a plugin crate and updates
//! a running host to it through the host's control socket. A failed build leaves the host untouched.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::ProgressBar;

use crate::cargo;
use crate::plugin::{self, Arguments, ReloadError};

pub fn reload(arguments: &[String]) -> Result<(), String> {
    let arguments = Arguments::parse("reload", arguments)?;
    let plugin = plugin::find(&arguments.crate_name, arguments.profile())?;
    // Cargo's progress and the compiler's messages go straight to the terminal.
    let mut build = cargo();
    build.args(["build", "-p", &plugin.name]);
    if arguments.release {
        build.arg("--release");
    }
    let status = build.status().map_err(|error| format!("could not run cargo: {error}"))?;
    if !status.success() {
        return Err(format!("build of {} failed; the host was not touched", plugin.name));
    }
    let spinner = std::io::stderr().is_terminal().then(|| {
        let spinner = ProgressBar::new_spinner().with_message(format!(
            "updating the host at {} to {}",
            arguments.socket.display(),
            plugin.library.display()
        ));
        spinner.enable_steady_tick(Duration::from_millis(80));
        spinner
    });
    let result = plugin::reload(&arguments.socket, &plugin.library);
    if let Some(spinner) = spinner {
        spinner.finish_and_clear();
    }
    match result {
        Ok(report) => {
            println!("{report}");
            Ok(())
        }
        Err(ReloadError::Refused(message) | ReloadError::Failed(message)) => Err(message),
    }
}
