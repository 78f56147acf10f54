//! The history of a host: what was loaded, updated, rolled back, committed and refused, with when.
//! Read with `Host::history` or the control socket's `history` command; the newest
//! [`HISTORY_CAPACITY`] entries are kept in memory.
//!
//! With a state directory the history is also durable: every entry is appended to the file
//! `journal` there and `fsync`'d before the operation that made it returns, and a host started on
//! the same directory reads it back. The file is `ecdysis journal 1\n` followed by records, each a
//! little-endian `u32` length, the FNV-1a 64 of the payload (little-endian `u64`) and the payload,
//! one `HistoryEntry` as JSON. A record cut short by a crash, or one whose checksum does not match,
//! ends what is read: it and anything after it are discarded with a warning, never fatal. When the
//! file holds twice the capacity, it is rewritten with the newest entries (a temporary file,
//! `fsync`, rename, directory `fsync`), so it never grows without bound.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use ecdysis_plugin_api::envelope::fnv1a64;
use ecdysis_protocol::{HistoryEntry, HistoryEvent};
use parking_lot::Mutex;

use crate::error::BuildError;

/// How many entries a host keeps in memory; older ones are dropped (and, with a state directory,
/// compacted out of the journal file).
pub const HISTORY_CAPACITY: usize = 1000;

/// The first line of a journal file: its format and format version.
const HEADER_PREFIX: &str = "ecdysis journal ";
/// The journal format this host reads and writes.
const FORMAT_VERSION: u32 = 1;
/// The bytes of a record before its payload: length and checksum.
const RECORD_HEADER: usize = 4 + 8;

/// The history.
#[derive(Default)]
pub(crate) struct Journal {
    state: Mutex<JournalState>,
}

#[derive(Default)]
struct JournalState {
    entries: VecDeque<HistoryEntry>,
    file: Option<JournalFile>,
}

/// The journal's file in a state directory, locked against other hosts for as long as it is open.
struct JournalFile {
    path: PathBuf,
    file: File,
    /// How many records the file holds.
    records: usize,
}

fn header() -> String {
    format!("{HEADER_PREFIX}{FORMAT_VERSION}\n")
}

fn encode_record(entry: &HistoryEntry) -> Vec<u8> {
    let payload = serde_json::to_vec(entry).expect("a history entry is serialisable");
    let mut record = Vec::with_capacity(RECORD_HEADER + payload.len());
    record.extend_from_slice(&u32::try_from(payload.len()).expect("a history entry is smaller than 4 GiB").to_le_bytes());
    record.extend_from_slice(&fnv1a64(&payload).to_le_bytes());
    record.extend_from_slice(&payload);
    record
}

/// The whole records at the start of `bytes` (after the header), and how many bytes they take.
fn decode_records(bytes: &[u8]) -> (Vec<HistoryEntry>, usize) {
    let mut entries = Vec::new();
    let mut offset = 0;
    while bytes.len() - offset >= RECORD_HEADER {
        let length = u32::from_le_bytes(bytes[offset..offset + 4].try_into().expect("four bytes")) as usize;
        let checksum = u64::from_le_bytes(bytes[offset + 4..offset + 12].try_into().expect("eight bytes"));
        let Some(payload) = bytes.get(offset + RECORD_HEADER..offset + RECORD_HEADER + length) else { break };
        if fnv1a64(payload) != checksum {
            break;
        }
        let Ok(entry) = serde_json::from_slice::<HistoryEntry>(payload) else { break };
        entries.push(entry);
        offset += RECORD_HEADER + length;
    }
    (entries, offset)
}

impl Journal {
    /// A history kept in memory only.
    pub(crate) fn in_memory() -> Journal {
        Journal::default()
    }

    /// The durable history in `directory` (created if missing): reads what an earlier host wrote,
    /// discarding a torn last record, and appends from there.
    ///
    /// # Errors
    /// When the directory or the file cannot be made, read or locked (another host uses it), or the
    /// file is not a journal of this format version.
    pub(crate) fn open(directory: &Path) -> Result<Journal, BuildError> {
        let refuse =
            |reason: String, source: Option<std::io::Error>| BuildError::StateDirectory { path: directory.to_owned(), reason, source };
        std::fs::create_dir_all(directory).map_err(|error| refuse("it cannot be created".to_owned(), Some(error)))?;
        let path = directory.join("journal");
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|error| refuse(format!("its journal `{}` cannot be opened", path.display()), Some(error)))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
            .map_err(|error| refuse("another host is using it (its journal is locked)".to_owned(), Some(std::io::Error::from(error))))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|error| refuse(format!("its journal `{}` cannot be read", path.display()), Some(error)))?;

        let header = header();
        if bytes.is_empty() {
            write_durably(&mut file, header.as_bytes())
                .map_err(|error| refuse(format!("its journal `{}` cannot be written", path.display()), Some(error)))?;
            let state = JournalState { entries: VecDeque::new(), file: Some(JournalFile { path, file, records: 0 }) };
            return Ok(Journal { state: Mutex::new(state) });
        }
        let Some(body) = bytes.strip_prefix(header.as_bytes()) else {
            let first_line = bytes.split(|&byte| byte == b'\n').next().unwrap_or_default();
            let first_line = String::from_utf8_lossy(&first_line[..first_line.len().min(64)]).into_owned();
            let reason = match first_line.strip_prefix(HEADER_PREFIX) {
                Some(version) => format!(
                    "its journal `{}` is in format version {version}, and this host reads version {FORMAT_VERSION}; move it away or use a matching ecdysis",
                    path.display()
                ),
                None => format!("`{}` is not an ecdysis journal (it starts with `{first_line}`)", path.display()),
            };
            return Err(refuse(reason, None));
        };
        let (entries, whole) = decode_records(body);
        let discarded = body.len() - whole;
        if discarded > 0 {
            tracing::warn!(
                path = %path.display(),
                discarded_bytes = discarded,
                kept_entries = entries.len(),
                "the journal ends with a record cut short or damaged (a write interrupted by a crash); it was discarded"
            );
            file.set_len((header.len() + whole) as u64)
                .and_then(|()| file.sync_all())
                .map_err(|error| refuse(format!("its journal `{}` cannot be repaired", path.display()), Some(error)))?;
        }
        let records = entries.len();
        let keep = entries.len().saturating_sub(HISTORY_CAPACITY);
        let mut state = JournalState { entries: entries.into_iter().skip(keep).collect(), file: Some(JournalFile { path, file, records }) };
        if records >= 2 * HISTORY_CAPACITY {
            state.compact();
        }
        Ok(Journal { state: Mutex::new(state) })
    }

    /// Records `event` for `module`, durably when there is a state directory. A failure to write
    /// is logged; it never fails the operation that made the entry.
    pub(crate) fn record(&self, module: &str, event: HistoryEvent) {
        let at_unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis() as u64);
        let entry = HistoryEntry { at_unix_ms, module: module.to_owned(), event };
        let record = encode_record(&entry);
        // What is kept in memory is what the file holds (durations in whole microseconds), so that
        // the history reads the same before and after a restart.
        let (mut decoded, _) = decode_records(&record);
        let entry = decoded.pop().expect("a record decodes to the entry it encodes");
        let mut state = self.state.lock();
        if let Some(journal) = &mut state.file {
            match write_durably(&mut journal.file, &record) {
                Ok(()) => journal.records += 1,
                Err(error) => {
                    tracing::error!(path = %journal.path.display(), %error, "could not append to the journal; the entry is kept in memory only")
                }
            }
        }
        if state.entries.len() == HISTORY_CAPACITY {
            state.entries.pop_front();
        }
        state.entries.push_back(entry);
        if state.file.as_ref().is_some_and(|journal| journal.records >= 2 * HISTORY_CAPACITY) {
            state.compact();
        }
    }

    /// The entries, oldest first.
    pub(crate) fn entries(&self) -> Vec<HistoryEntry> {
        self.state.lock().entries.iter().cloned().collect()
    }
}

impl JournalState {
    /// Rewrites the journal file with the entries in memory, atomically: a crash leaves either the
    /// old file or the new one.
    fn compact(&mut self) {
        let Some(journal) = &mut self.file else { return };
        let directory = journal.path.parent().expect("a journal lives in a directory").to_owned();
        let rewritten = (|| -> std::io::Result<File> {
            let mut temporary = tempfile::NamedTempFile::new_in(&directory)?;
            let mut bytes = header().into_bytes();
            for entry in &self.entries {
                bytes.extend_from_slice(&encode_record(entry));
            }
            temporary.write_all(&bytes)?;
            temporary.as_file().sync_all()?;
            // The new file is locked before it takes the old one's name, so no other host can take
            // it in between; its position is its end, where appends go.
            rustix::fs::flock(temporary.as_file(), rustix::fs::FlockOperation::NonBlockingLockExclusive)?;
            let file = temporary.persist(&journal.path).map_err(|error| error.error)?;
            File::open(&directory)?.sync_all()?;
            Ok(file)
        })();
        match rewritten {
            Ok(file) => {
                journal.file = file;
                journal.records = self.entries.len();
            }
            Err(error) => tracing::warn!(path = %journal.path.display(), %error, "could not compact the journal; it keeps growing"),
        }
    }
}

/// Appends `bytes` and waits until they are on disk.
fn write_durably(file: &mut File, bytes: &[u8]) -> std::io::Result<()> {
    file.write_all(bytes)?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Whatever follows the header, reading a journal keeps the whole records before the first
        /// damaged one and never panics.
        #[test]
        fn any_bytes_after_the_header_are_read_without_a_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let (entries, whole) = decode_records(&body);
            proptest::prop_assert!(whole <= body.len());
            proptest::prop_assert!(entries.len() <= body.len() / RECORD_HEADER);
        }
    }

    #[test]
    fn records_read_back_as_written_and_a_torn_one_ends_the_reading() {
        let entry = HistoryEntry { at_unix_ms: 7, module: "kv".into(), event: HistoryEvent::Committed { released: None, expired: false } };
        let mut bytes = encode_record(&entry);
        bytes.extend_from_slice(&encode_record(&entry));
        let whole = bytes.len();
        bytes.extend_from_slice(&encode_record(&entry)[..10]);
        let (entries, read) = decode_records(&bytes);
        assert_eq!((entries, read), (vec![entry.clone(), entry], whole));
    }
}
