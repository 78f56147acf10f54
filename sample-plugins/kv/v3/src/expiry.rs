//! The expiry commands: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (with NX, XX, GT and LT), TTL, PTTL,
//! EXPIRETIME, PEXPIRETIME and PERSIST. Their arguments and arithmetic are in
//! `kv_interface::expiry`; this module looks the keys up and stores the expiries.

use kv_interface::expiry::{ReportExpiry, SetExpiry};
use kv_interface::resp;

use crate::database::Database;

/// Sets a key's expiry as Redis 7's `expireGenericCommand` does: `:1` when set, `:0` when the key is
/// missing or a condition is not met. An expiry at or before now deletes the key (and replies `:1`).
pub(crate) fn set_expiry(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>, command: &SetExpiry) {
    let Some(request) = command.parse(arguments, database.now_ms(), out) else {
        return;
    };
    let Some(entry) = database.live(request.key) else {
        return resp::integer(out, 0);
    };
    if request.refuses(entry.expires_at_ms) {
        return resp::integer(out, 0);
    }
    match request.expires_at_ms() {
        Some(expires_at_ms) => entry.expires_at_ms = Some(expires_at_ms),
        None => {
            database.remove(request.key);
        }
    }
    resp::integer(out, 1);
}

/// Reports a key's expiry: -2 when the key is missing, -1 when it has no expiry.
pub(crate) fn report_expiry(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>, command: &ReportExpiry) {
    let Some(key) = command.parse(arguments, out) else {
        return;
    };
    let now_ms = database.now_ms();
    let Some(entry) = database.live(key) else {
        return resp::integer(out, -2);
    };
    let Some(expires_at_ms) = entry.expires_at_ms else {
        return resp::integer(out, -1);
    };
    command.reply(expires_at_ms, now_ms, out);
}

/// `PERSIST key`: removes the expiry; `:1` if there was one, `:0` otherwise or when missing.
pub(crate) fn persist(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key] = arguments else {
        return resp::wrong_arity(out, b"persist");
    };
    let removed = database.live(key).and_then(|entry| entry.expires_at_ms.take()).is_some();
    resp::integer(out, i64::from(removed));
}
