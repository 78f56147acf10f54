//! The differential tables: scripts of commands sent to kv-server and to a real redis-server, whose
//! replies must agree, byte for byte or, where Redis leaves the order unspecified, as sets.
//!
//! A [`Script`] runs on an empty database of each server, one command after another. Each
//! [`Step`] says how its two replies are compared ([`Compare`]); where kv chooses to differ from
//! Redis, the step says so and why, and the replies are not compared.
//!
//! The tables are grouped by family, one module each. The integration test `differential` in the
//! `ecdysis-tests` crate runs them against `kv-server` on kv v4 and against `redis-server`.

pub mod sets;
pub mod sorted_sets;

/// How the replies of kv-server and redis-server to one command are compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compare {
    /// Byte for byte.
    Exact,
    /// As multisets of their top-level elements: for array replies whose order Redis leaves
    /// unspecified (SMEMBERS, SUNION, SPOP with a count, KEYS, ...).
    Unordered,
    /// Not compared: kv chooses to differ from Redis here, for the reason given.
    Differs(&'static str),
}

/// One command of a script and how its replies are compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The command, written as text and split at single spaces (see [`crate::arguments`]).
    pub command: String,
    /// How the two servers' replies are compared.
    pub compare: Compare,
}

/// A script: commands run in order on an empty database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// What the script is about, for failure messages.
    pub name: &'static str,
    /// The commands, in order.
    pub steps: Vec<Step>,
}

/// Starts a script named `name`, with no step yet.
#[must_use]
pub fn script(name: &'static str) -> Script {
    Script { name, steps: Vec::new() }
}

impl Script {
    /// Adds commands whose replies must agree byte for byte.
    #[must_use]
    pub fn exact(mut self, commands: &[&str]) -> Script {
        self.steps.extend(commands.iter().map(|command| Step { command: (*command).to_owned(), compare: Compare::Exact }));
        self
    }

    /// Adds a command whose array reply must hold the same elements, in any order.
    #[must_use]
    pub fn unordered(mut self, command: &str) -> Script {
        self.steps.push(Step { command: command.to_owned(), compare: Compare::Unordered });
        self
    }

    /// Adds a command whose reply kv chooses to differ on, and why.
    #[must_use]
    pub fn differs(mut self, command: &str, why: &'static str) -> Script {
        self.steps.push(Step { command: command.to_owned(), compare: Compare::Differs(why) });
        self
    }
}
