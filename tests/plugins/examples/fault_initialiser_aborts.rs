//! Faulty: a library whose initialiser calls `abort()` when it is opened, before the host can read
//! its descriptor. Without a rehearsal in a child process, this takes the host process down.

// A fixture that must put a function into `.init_array`, which only unsafe code can do.
#![allow(unsafe_code)]

use ecdysis_test_plugins::Defect;

/// The defect: none in the plugin; the library's initialiser is the fault.
pub struct ThisDefect;

impl Defect for ThisDefect {}

extern "C" fn abort_when_opened() {
    std::process::abort()
}

/// Run by the dynamic loader when the library is opened.
#[used]
#[unsafe(link_section = ".init_array")]
static ABORT_WHEN_OPENED: extern "C" fn() = abort_when_opened;

ecdysis_test_plugins::export_defective_counter!(ThisDefect);
