//! INFO, the one server command whose reply depends on the version: its version numbers and its
//! keyspace. The other connection and server commands (PING, ECHO, SELECT, CONFIG, COMMAND, CLIENT)
//! are answered alike by every version, in `kv_common::compat`.

use ecdysis_plugin_api::Schema;
use kv_common::compat::{self, InfoFacts};
use kv_interface::schema::KvStateV4;

use crate::database::Database;

/// This version's facts for INFO's server section.
const INFO_FACTS: InfoFacts = InfoFacts { plugin_version: env!("CARGO_PKG_VERSION"), schema_version: KvStateV4::VERSION };

/// `INFO [section ...]`, with this version's key counts in the keyspace section.
pub(crate) fn info(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    compat::info(INFO_FACTS, || database.keyspace_counts(), arguments, out);
}
