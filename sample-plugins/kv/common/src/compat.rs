//! The protocol-compatibility commands every kv version answers alike: PING, ECHO, SELECT, and as
//! much of INFO, CONFIG, COMMAND and CLIENT as `redis-cli`, `redis-benchmark` and client libraries
//! ask for when they connect. A version passes in what differs: its version numbers and, for INFO's
//! keyspace line, its key counts.

use kv_interface::resp;

use crate::{glob_match, parse_integer};

/// The Redis version this module answers like.
const REDIS_VERSION: &str = "7.0.15";

/// The configuration parameters `CONFIG GET` knows, with their values.
const CONFIGURATION: [(&str, &str); 4] = [("save", ""), ("appendonly", "no"), ("maxmemory", "0"), ("databases", "16")];

/// `PING [message]`: `+PONG`, or the message as a bulk string.
pub fn ping(arguments: &[&[u8]], out: &mut Vec<u8>) {
    match arguments {
        [_] => resp::simple(out, "PONG"),
        [_, message] => resp::bulk(out, message),
        _ => resp::wrong_arity(out, b"ping"),
    }
}

/// `ECHO message`.
pub fn echo(arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, message] = arguments else {
        return resp::wrong_arity(out, b"echo");
    };
    resp::bulk(out, message);
}

/// `SELECT index`: only database 0 exists.
pub fn select(arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, index] = arguments else {
        return resp::wrong_arity(out, b"select");
    };
    // `parse_integer` accepts only the canonical spelling, as Redis's `string2ll` does.
    match parse_integer(index) {
        None => resp::not_an_integer(out),
        Some(index) if i32::try_from(index).is_err() => {
            resp::error(out, "ERR value is out of range, value must between -2147483648 and 2147483647")
        }
        Some(0) => resp::ok(out),
        Some(_) => resp::error(out, "ERR DB index is out of range"),
    }
}

/// The sections of INFO this module writes, in the order Redis writes them.
const INFO_SECTIONS: [&str; 4] = ["server", "persistence", "replication", "keyspace"];

/// What INFO reports that differs between versions.
#[derive(Clone, Copy, Debug)]
pub struct InfoFacts {
    /// The plugin's version, `ecdysis_kv_version` (the crate version).
    pub plugin_version: &'static str,
    /// The version of the plugin's state schema, `ecdysis_kv_schema`.
    pub schema_version: u32,
}

/// `INFO [section ...]`: a bulk string of `# Section` headers and `field:value` lines. Without a
/// section, or with `all`, `everything` or `default`, every section; unknown sections add nothing.
/// `keyspace` counts the keys and the keys with an expiry; it is called only when the keyspace
/// section is wanted.
pub fn info(facts: InfoFacts, keyspace: impl FnOnce() -> (usize, usize), arguments: &[&[u8]], out: &mut Vec<u8>) {
    let requested = arguments.get(1..).unwrap_or_default();
    let wants_everything = requested.is_empty()
        || requested.iter().any(|section| {
            section.eq_ignore_ascii_case(b"all") || section.eq_ignore_ascii_case(b"everything") || section.eq_ignore_ascii_case(b"default")
        });
    let wanted = |name: &str| wants_everything || requested.iter().any(|section| section.eq_ignore_ascii_case(name.as_bytes()));
    let mut keyspace = Some(keyspace);
    let mut text = String::new();
    for section in INFO_SECTIONS.into_iter().filter(|section| wanted(section)) {
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        match section {
            "server" => {
                text.push_str("# Server\r\n");
                text.push_str(&format!("redis_version:{REDIS_VERSION}\r\n"));
                text.push_str(&format!("ecdysis_kv_version:{}\r\n", facts.plugin_version));
                text.push_str(&format!("ecdysis_kv_schema:{}\r\n", facts.schema_version));
                text.push_str("redis_mode:standalone\r\n");
                text.push_str(&format!("os:{}\r\n", std::env::consts::OS));
                text.push_str(&format!("arch_bits:{}\r\n", usize::BITS));
                text.push_str(&format!("process_id:{}\r\n", std::process::id()));
            }
            "persistence" => {
                text.push_str("# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:0\r\naof_enabled:0\r\n")
            }
            "replication" => text.push_str("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"),
            "keyspace" => {
                text.push_str("# Keyspace\r\n");
                let (keys, keys_with_expiry) = keyspace.take().map_or((0, 0), |count| count());
                // Redis leaves out a database that holds no key.
                if keys > 0 {
                    text.push_str(&format!("db0:keys={keys},expires={keys_with_expiry},avg_ttl=0\r\n"));
                }
            }
            _ => {}
        }
    }
    resp::bulk(out, text.as_bytes());
}

/// `CONFIG GET pattern [pattern ...]`, `CONFIG SET parameter value [parameter value ...]` and
/// `CONFIG RESETSTAT`. GET knows a few parameters (see [`CONFIGURATION`]); SET accepts and ignores.
pub fn config(arguments: &[&[u8]], out: &mut Vec<u8>) {
    let Some(&subcommand) = arguments.get(1) else {
        return resp::wrong_arity(out, b"config");
    };
    if subcommand.eq_ignore_ascii_case(b"get") {
        let patterns = arguments.get(2..).unwrap_or_default();
        if patterns.is_empty() {
            return resp::wrong_arity(out, b"config|get");
        }
        // Parameter names are matched without regard to case, as Redis does.
        let patterns: Vec<Vec<u8>> = patterns.iter().map(|pattern| pattern.to_ascii_lowercase()).collect();
        let matching: Vec<(&str, &str)> =
            CONFIGURATION.into_iter().filter(|(name, _)| patterns.iter().any(|pattern| glob_match(pattern, name.as_bytes()))).collect();
        resp::array_header(out, matching.len() * 2);
        for (name, value) in matching {
            resp::bulk(out, name.as_bytes());
            resp::bulk(out, value.as_bytes());
        }
    } else if subcommand.eq_ignore_ascii_case(b"set") {
        if arguments.len() < 4 {
            return resp::wrong_arity(out, b"config|set");
        }
        // Redis 7 reports parameters without a value as a syntax error, not as a wrong arity.
        if !arguments.len().is_multiple_of(2) {
            return resp::syntax_error(out);
        }
        resp::ok(out);
    } else if subcommand.eq_ignore_ascii_case(b"resetstat") {
        if arguments.len() != 2 {
            return resp::wrong_arity(out, b"config|resetstat");
        }
        resp::ok(out);
    } else {
        unknown_subcommand(out, arguments.first().copied().unwrap_or(b"config"), subcommand);
    }
}

/// `COMMAND`, `COMMAND DOCS|INFO|LIST ...` (empty arrays: this module describes no command) and
/// `COMMAND COUNT` (`:0`).
pub fn command(arguments: &[&[u8]], out: &mut Vec<u8>) {
    let Some(&subcommand) = arguments.get(1) else {
        return resp::empty_array(out);
    };
    if subcommand.eq_ignore_ascii_case(b"count") {
        if arguments.len() != 2 {
            return resp::wrong_arity(out, b"command|count");
        }
        resp::integer(out, 0);
    } else if subcommand.eq_ignore_ascii_case(b"docs")
        || subcommand.eq_ignore_ascii_case(b"info")
        || subcommand.eq_ignore_ascii_case(b"list")
    {
        resp::empty_array(out);
    } else {
        unknown_subcommand(out, arguments.first().copied().unwrap_or(b"command"), subcommand);
    }
}

/// The connection id `CLIENT ID` reports. The module does not see connections, so every client is
/// told the same id.
const CLIENT_ID: i64 = 1;

/// `CLIENT SETNAME name`, `CLIENT SETINFO attribute value` (`+OK`), `CLIENT GETNAME` (null: names are
/// not kept), `CLIENT ID`, and `+OK` for any other subcommand.
pub fn client(arguments: &[&[u8]], out: &mut Vec<u8>) {
    let Some(&subcommand) = arguments.get(1) else {
        return resp::wrong_arity(out, b"client");
    };
    if subcommand.eq_ignore_ascii_case(b"setname") {
        let &[_, _, name] = arguments else {
            return resp::wrong_arity(out, b"client|setname");
        };
        if !name.iter().all(|byte| (b'!'..=b'~').contains(byte)) {
            return resp::error(out, "ERR Client names cannot contain spaces, newlines or special characters.");
        }
        resp::ok(out);
    } else if subcommand.eq_ignore_ascii_case(b"setinfo") {
        if arguments.len() != 4 {
            return resp::wrong_arity(out, b"client|setinfo");
        }
        resp::ok(out);
    } else if subcommand.eq_ignore_ascii_case(b"getname") {
        if arguments.len() != 2 {
            return resp::wrong_arity(out, b"client|getname");
        }
        resp::null(out);
    } else if subcommand.eq_ignore_ascii_case(b"id") {
        if arguments.len() != 2 {
            return resp::wrong_arity(out, b"client|id");
        }
        resp::integer(out, CLIENT_ID);
    } else {
        resp::ok(out);
    }
}

/// Writes Redis's reply to a subcommand that the command does not have.
pub fn unknown_subcommand(out: &mut Vec<u8>, command: &[u8], subcommand: &[u8]) {
    let subcommand: String = String::from_utf8_lossy(subcommand).chars().take(128).collect();
    let command = String::from_utf8_lossy(command).to_uppercase();
    resp::error(out, &format!("ERR unknown subcommand '{subcommand}'. Try {command} HELP."));
}
