//! A counter plugin that needs a symbol nothing defines. The linker lets a shared library leave
//! symbols undefined; the dynamic loader does not: with `RTLD_NOW` it refuses the library at
//! `dlopen`, with its own reason, "undefined symbol: ecdysis_test_symbol_nobody_defines". Nothing
//! else is wrong with it, so only that refusal can stop it.

// A fixture that must export a symbol by hand (or use one nothing defines), which only unsafe
// code can do.
#![allow(unsafe_code)]

use ecdysis_test_plugins::Defect;

unsafe extern "C" {
    /// Defined nowhere.
    fn ecdysis_test_symbol_nobody_defines() -> u32;
}

/// Uses the missing symbol, so that the library keeps its reference to it.
#[unsafe(no_mangle)]
pub extern "C" fn undefined_symbol_answer() -> u32 {
    // SAFETY: never called: a library with an undefined symbol cannot be loaded with `RTLD_NOW`.
    unsafe { ecdysis_test_symbol_nobody_defines() }
}

/// No defect in behaviour: the library cannot be loaded at all.
pub struct Correct;
impl Defect for Correct {}

ecdysis_test_plugins::export_defective_counter!(Correct);
