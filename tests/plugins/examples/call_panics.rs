//! A counter v3.0.0 whose increment panics for the key `panic`.

#![forbid(unsafe_code)]

use ecdysis_test_plugins::Defect;

/// The defect.
pub struct ThisDefect;

impl Defect for ThisDefect {
    fn before_increment(key: &str) {
        if key == "panic" {
            panic!("increment panicked on purpose");
        }
    }
}

ecdysis_test_plugins::export_defective_counter!(ThisDefect);
