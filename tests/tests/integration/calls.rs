//! Loading a plugin and calling it: values of every kind cross the boundary, and a panic in the
//! plugin becomes an error for that call only.

use counter_interface::{Counter, CounterStats};
use ecdysis_host::CallError;

use super::*;

#[test]
fn a_loaded_plugin_serves_calls_of_every_argument_and_result_kind() {
    let host = host();
    let counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
    let info = counter.info();
    assert_eq!((info.module.as_str(), info.version.to_string().as_str(), info.schema_version), ("counter", "1.0.0", 1));
    counter.call(|counter| {
        assert_eq!(counter.increment("a", 5).unwrap(), 5); // &str and i64 in, i64 out
        assert_eq!(counter.increment("a", -2).unwrap(), 3);
        assert_eq!(counter.increment("ünïcødé", 1).unwrap(), 1);
        assert_eq!(counter.value("a").unwrap(), Some(3)); // Option<i64> as MessagePack
        assert_eq!(counter.value("missing").unwrap(), None);
        assert_eq!(counter.stats("a").unwrap(), Some(CounterStats { value: 3, increments: None })); // a struct
        assert_eq!(counter.keys().unwrap(), vec!["a".to_owned(), "ünïcødé".to_owned()]); // Vec<String>
        assert_eq!(counter.total_increments().unwrap(), 3);
    });
    let status = host.status();
    assert_eq!(status.len(), 1);
    assert_eq!((status[0].name.as_str(), status[0].updates, status[0].in_flight), ("counter", 0, 0));
}

#[test]
fn a_panic_in_a_call_is_an_error_for_that_call_and_the_module_keeps_serving() {
    let host = host();
    let counter = host.load::<dyn Counter>(defective("call_panics")).unwrap();
    counter.call(|counter| counter.increment("fine", 1)).unwrap();
    let error = counter.call(|counter| counter.increment("panic", 1)).unwrap_err();
    assert_eq!(error, CallError::Panicked { message: "increment panicked on purpose".into() });
    assert_eq!(counter.call(|counter| counter.increment("fine", 1)).unwrap(), 2);
}

#[test]
fn loading_the_same_module_twice_is_refused() {
    let host = host();
    let _counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
    let error = host.load::<dyn Counter>(sample("counter-v2")).unwrap_err();
    assert_eq!(error.to_string(), "module `counter` is already loaded; update it instead of loading it again");
}

#[test]
fn a_library_whose_call_panicked_leaves_the_address_space_when_released() {
    let host = host();
    let counter = host.load::<dyn Counter>(defective("call_panics")).unwrap();
    // The panic runs the plugin's panic hook and unwinds through its frames on this thread, which
    // stays alive after the release: nothing of it may keep the library mapped.
    let _ = counter.call(|counter| counter.increment("panic", 1)).unwrap_err();
    host.update_with("counter", sample("counter-v2"), &ecdysis_host::UpdateOptions::new().allow_downgrade(true)).unwrap();
    host.commit("counter").unwrap();
    let released = host.released_libraries();
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].version.to_string(), "3.0.0");
    assert!(!released[0].still_mapped, "the library stayed mapped after a call panicked in it: {released:?}");
}

#[test]
fn a_released_library_that_stays_mapped_is_named_in_status_until_it_is_unmapped() {
    let host = host();
    let counter = host.load::<dyn Counter>(sample("counter-v2")).unwrap();
    host.update("counter", defective("thread_local_kept")).unwrap();
    // A thread that stays alive touches the plugin's thread-local, whose destructor glibc must run
    // before it may unmap the library.
    let (called, wait_until_called) = std::sync::mpsc::channel();
    let (finish, wait_to_finish) = std::sync::mpsc::channel::<()>();
    let caller = {
        let counter = counter.clone();
        std::thread::spawn(move || {
            counter.call(|counter| counter.increment("from-a-thread-that-stays", 1)).unwrap();
            called.send(()).unwrap();
            wait_to_finish.recv().unwrap();
        })
    };
    wait_until_called.recv().unwrap();
    host.update_with("counter", sample("counter-v2"), &ecdysis_host::UpdateOptions::new().allow_downgrade(true)).unwrap();
    host.commit("counter").unwrap();
    let released = host.released_libraries();
    assert!(released.last().unwrap().still_mapped, "{released:?}");
    let still_mapped = host.status()[0].libraries_still_mapped.clone();
    assert_eq!(still_mapped.len(), 1, "{still_mapped:?}");
    assert!(
        still_mapped[0].contains("libthread_local_kept.so (3.0.0)")
            && still_mapped[0].contains("thread-locals with a destructor is still alive"),
        "status names the library and why: {}",
        still_mapped[0]
    );
    // Once the thread has exited (glibc runs the destructor) and another library is unloaded
    // (glibc unmaps what is no longer used only when something is closed), it is gone; status
    // looks again each time.
    finish.send(()).unwrap();
    caller.join().unwrap();
    host.update_with("counter", sample("counter-v1"), &ecdysis_host::UpdateOptions::new().allow_downgrade(true)).unwrap();
    host.commit("counter").unwrap();
    assert_eq!(host.status()[0].libraries_still_mapped, Vec::<String>::new());
}
