//! A counter v3.0.0 whose increment remembers the keys it saw in a thread-local with a destructor:
//! the C library then keeps the library mapped, after it is released, until every thread that
//! called increment has exited. The host must say so in `status`.

#![forbid(unsafe_code)]

use std::cell::RefCell;

use ecdysis_test_plugins::Defect;

thread_local! {
    static SEEN: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// The defect.
pub struct ThisDefect;

impl Defect for ThisDefect {
    fn before_increment(key: &str) {
        SEEN.with(|seen| seen.borrow_mut().push(key.to_owned()));
    }
}

ecdysis_test_plugins::export_defective_counter!(ThisDefect);
