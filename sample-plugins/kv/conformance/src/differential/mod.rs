//! The differential tables: scripts of commands sent to kv-server and to a real redis-server, whose
//! replies must agree, byte for byte or, where Redis leaves the order unspecified, as multisets.
//!
//! A [`Script`] runs on an empty database of each server, one command after another. Each
//! [`Step`] says how its two replies are compared ([`Compare`]); where kv chooses to differ from
//! Redis, the step says so and why, and the replies are not compared.
//!
//! The tables are grouped by family, one module each. The integration test `differential` in the
//! `ecdysis-tests` crate runs them against `kv-server` on kv v4 and against `redis-server`.
//!
//! The same test runs the conformance cases of the crate root ([`crate::strings`] and the other
//! groups) against both servers: each command's two replies must agree, and the reply recorded in
//! the case must agree with Redis's. How their commands are compared is declared here, in data:
//! [`CONFORMANCE_DIFFERENCES`] lists the commands whose replies kv chooses to differ on, each with
//! its reason, and [`CONFORMANCE_UNORDERED`] the commands whose reply order Redis leaves
//! unspecified (see [`conformance_compare`]).

pub mod blocking;
pub mod hashes;
pub mod keys;
pub mod lists;
pub mod sets;
pub mod sorted_sets;
pub mod strings;
pub mod transactions;

/// How the replies of kv-server and redis-server to one command are compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compare {
    /// Byte for byte.
    Exact,
    /// With every array in the reply, at any depth, compared as a multiset of its elements: both
    /// replies are parsed, the elements of each array are put in one canonical order (arrays
    /// nested inside first), and the results must be equal. For replies whose order Redis leaves
    /// unspecified: SMEMBERS, SUNION, SPOP with a count, KEYS, and SSCAN's `[cursor, [members]]`,
    /// whose cursor is compared as an element of the outer array. Replies that are not arrays are
    /// compared byte for byte.
    Unordered,
    /// Not compared: kv chooses to differ from Redis here, for the reason given.
    Differs(&'static str),
}

/// Why the reply of a scan (SCAN, SSCAN, HSCAN) with a non-zero cursor, or a COUNT below the
/// collection's size, is not compared.
pub const SCAN_CURSORS: &str = "cursors are each server's own: Redis's walk its hash table's buckets, kv's a fixed hash of \
                                the names (FNV-1a), so a page and the next cursor differ; both return every item present \
                                throughout";

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

/// A command of the conformance cases whose reply kv chooses to differ from Redis on, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The name of the cases ([`crate::Case::name`]) the command differs in.
    pub case: &'static str,
    /// The whole command as a case writes it, compared without regard to ASCII case.
    pub command: &'static str,
    /// Why kv differs from Redis here.
    pub why: &'static str,
}

/// Why kv's COMMAND replies differ from Redis's.
const NO_COMMAND_DOCS: &str =
    "kv documents no command: COMMAND and its DOCS, INFO and COUNT reply empty, which clients take as no metadata";

/// Why kv's CLIENT replies differ from Redis's.
const NO_CONNECTION_REGISTRY: &str =
    "kv keeps no registry of connections: it accepts CLIENT SETNAME and forgets the name, CLIENT ID is 1 and CLIENT LIST is OK";

/// Why kv's CONFIG GET replies differ from Redis's.
const FOUR_PARAMETERS: &str = "kv has four parameters (save, appendonly, maxmemory, databases), Redis all of its own";

/// Why kv accepts CLIENT SETINFO.
const SETINFO_OF_REDIS_7_2: &str =
    "kv accepts CLIENT SETINFO as Redis 7.2 does, since client libraries send it on connecting; Redis 7.0 does not know it";

/// Why kv's key counts differ from Redis's once keys have expired.
const LIVE_KEYS_ONLY: &str = "kv counts live keys only; Redis counts expired keys until it reclaims them, on access or by its \
     expiry cycle (which the differential run turns off in Redis so that the difference is always the same)";

/// The commands of the conformance cases whose replies kv chooses to differ on: the differential
/// run sends them to both servers, so that the state stays in step, and compares neither reply.
/// Each entry must differ at least once in its case: an entry whose two replies always agree fails
/// the run, to be removed.
pub const CONFORMANCE_DIFFERENCES: &[Difference] = &[
    Difference { case: "ping_echo_and_select", command: "SELECT 1", why: "kv has one database, 0; Redis has 16" },
    Difference { case: "config_command_and_client", command: "CONFIG GET *", why: FOUR_PARAMETERS },
    Difference { case: "config_command_and_client", command: "CONFIG GET MAX*", why: FOUR_PARAMETERS },
    Difference { case: "config_command_and_client", command: "COMMAND", why: NO_COMMAND_DOCS },
    Difference { case: "config_command_and_client", command: "COMMAND DOCS", why: NO_COMMAND_DOCS },
    Difference { case: "config_command_and_client", command: "COMMAND DOCS GET SET", why: NO_COMMAND_DOCS },
    Difference { case: "config_command_and_client", command: "COMMAND INFO GET", why: NO_COMMAND_DOCS },
    Difference { case: "config_command_and_client", command: "COMMAND COUNT", why: NO_COMMAND_DOCS },
    Difference { case: "config_command_and_client", command: "CLIENT SETINFO LIB-NAME redis-rs", why: SETINFO_OF_REDIS_7_2 },
    Difference { case: "config_command_and_client", command: "CLIENT SETINFO LIB-NAME", why: SETINFO_OF_REDIS_7_2 },
    Difference { case: "config_command_and_client", command: "CLIENT GETNAME", why: NO_CONNECTION_REGISTRY },
    Difference { case: "config_command_and_client", command: "CLIENT ID", why: NO_CONNECTION_REGISTRY },
    Difference { case: "config_command_and_client", command: "CLIENT LIST", why: NO_CONNECTION_REGISTRY },
    Difference {
        case: "info_reports_the_version_and_the_keyspace",
        command: "INFO replication",
        why: "kv's replication section has role and connected_slaves only; it has no replication to describe",
    },
    Difference { case: "set_with_expiry", command: "DBSIZE", why: LIVE_KEYS_ONLY },
    Difference { case: "expired_keys_behave_as_missing", command: "DBSIZE", why: LIVE_KEYS_ONLY },
    Difference { case: "expired_keys_behave_as_missing", command: "INFO keyspace", why: LIVE_KEYS_ONLY },
];

/// The commands of the conformance cases whose array replies Redis gives in no specified order,
/// compared as [`Compare::Unordered`]: those whose first words are one of these, without regard to
/// ASCII case. KEYS: Redis lists keys in its hash table's order, kv sorts them. CONFIG GET: Redis 7
/// gathers the parameters that several patterns match in a hash table, to list each once, and
/// replies in its order, kv in the order of the patterns (the multiset comparison takes names and
/// values as elements, not as pairs).
pub const CONFORMANCE_UNORDERED: &[&str] = &["KEYS", "CONFIG GET"];

/// The declared difference of `command` in the conformance cases named `case`, if any.
#[must_use]
pub fn conformance_difference(case: &str, command: &str) -> Option<&'static Difference> {
    CONFORMANCE_DIFFERENCES.iter().find(|difference| difference.case == case && difference.command.eq_ignore_ascii_case(command))
}

/// How the differential run compares the replies to `command` in the conformance cases named
/// `case`.
#[must_use]
pub fn conformance_compare(case: &str, command: &str) -> Compare {
    if let Some(difference) = conformance_difference(case, command) {
        return Compare::Differs(difference.why);
    }
    let starts_with_words = |words: &str| {
        command.get(..words.len()).is_some_and(|start| start.eq_ignore_ascii_case(words))
            && matches!(command.as_bytes().get(words.len()), None | Some(b' '))
    };
    if CONFORMANCE_UNORDERED.iter().copied().any(starts_with_words) {
        return Compare::Unordered;
    }
    Compare::Exact
}

#[cfg(test)]
mod tests {
    use super::{CONFORMANCE_DIFFERENCES, Compare, conformance_compare, conformance_difference};

    #[test]
    fn conformance_commands_are_compared_as_the_tables_say() {
        let cases = [
            ("config_command_and_client", "client getname", Compare::Differs(super::NO_CONNECTION_REGISTRY)),
            ("expired_keys_behave_as_missing", "DBSIZE", Compare::Differs(super::LIVE_KEYS_ONLY)),
            ("deleting_and_counting_keys", "DBSIZE", Compare::Exact),
            ("keys_match_globs_and_come_sorted", "KEYS h[ae]llo", Compare::Unordered),
            ("expired_keys_behave_as_missing", "keys *", Compare::Unordered),
            ("config_command_and_client", "CLIENT", Compare::Exact),
            ("config_command_and_client", "config get save appendonly", Compare::Unordered),
            ("config_command_and_client", "CONFIG GETTER", Compare::Exact),
            ("config_command_and_client", "CONFIG GET *", Compare::Differs(super::FOUR_PARAMETERS)),
            ("keys_match_globs_and_come_sorted", "KEYSX", Compare::Exact),
            ("config_command_and_client", "COMMAND COUNT x", Compare::Exact),
            ("get_and_set", "GET k", Compare::Exact),
        ];
        for (case, command, expected) in cases {
            assert_eq!(conformance_compare(case, command), expected, "{command} in {case}");
        }
    }

    #[test]
    fn every_declared_difference_is_used_by_a_conformance_case() {
        let groups =
            [crate::strings(), crate::keyspace(), crate::server(), crate::expiry(), crate::lists(), crate::hashes(), crate::value_types()];
        let cases: Vec<crate::Case> = groups.into_iter().flatten().collect();
        for difference in CONFORMANCE_DIFFERENCES {
            let used = cases
                .iter()
                .filter(|case| case.name == difference.case && !case.time_dependent)
                .any(|case| case.steps.iter().any(|command| conformance_difference(case.name, command) == Some(difference)));
            assert!(used, "{difference:?} is in no conformance case the differential run sends");
        }
    }
}
