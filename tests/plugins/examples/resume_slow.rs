//! A counter v3.0.0, updated to, whose `resume` takes a while before it counts the resume: no call
//! may reach it before its `resume` has returned (`value("__resumed")` counts resumes).

#![forbid(unsafe_code)]

use ecdysis_test_plugins::Defect;

/// The defect.
pub struct ThisDefect;

impl Defect for ThisDefect {
    fn resume() {
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

ecdysis_test_plugins::export_defective_counter!(ThisDefect);
