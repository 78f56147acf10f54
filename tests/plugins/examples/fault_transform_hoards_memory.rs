//! Faulty: a counter v3.0.0 whose transform takes 2 GiB of memory, 64 MiB at a time, every page
//! touched, before it lets go and returns the state. A host with room for it survives; a rehearsal
//! process, whose address space is limited to its allowance (1 GiB by default) plus four times the
//! state, fails an allocation and aborts, so the update is refused: a memory-hungry candidate is
//! stopped before it can take the host's memory.

#![forbid(unsafe_code)]

use counter_interface::CounterStateV2;
use ecdysis_plugin_api::PluginError;
use ecdysis_test_plugins::Defect;

/// The defect.
pub struct ThisDefect;

/// How much one step takes.
const CHUNK_BYTES: usize = 64 << 20;

/// How much the transform takes in all.
const HOARD_BYTES: usize = 2 << 30;

impl Defect for ThisDefect {
    fn transform(state: CounterStateV2) -> Result<CounterStateV2, PluginError> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        for _ in 0..HOARD_BYTES / CHUNK_BYTES {
            // Zeroed pages come from the system untouched; writing one byte per page makes the
            // memory real.
            let mut chunk: Vec<u8> = vec![0; CHUNK_BYTES];
            let mut page = 0;
            while page < CHUNK_BYTES {
                chunk[page] = 1;
                page += 4096;
            }
            hoard.push(std::hint::black_box(chunk));
        }
        drop(std::hint::black_box(hoard));
        Ok(state)
    }
}

ecdysis_test_plugins::export_defective_counter!(ThisDefect);
