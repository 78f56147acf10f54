//! Fuzzes the control protocol's request parser, `parse_request`: whatever the line, it gives a
//! request or an error reply and never panics, and a request it accepts, serialised again, parses
//! to the same request.

#![no_main]
#![forbid(unsafe_code)]

use ecdysis_protocol::{Reply, parse_request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    match parse_request(line) {
        Ok(request) => {
            let again = serde_json::to_vec(&request).expect("a request serialises");
            match parse_request(&again) {
                Ok(reparsed) => assert_eq!(reparsed, request, "a request survives serialising and parsing again"),
                Err(response) => panic!("the serialised request {} is refused: {response:?}", String::from_utf8_lossy(&again)),
            }
        }
        Err(response) => assert!(matches!(response.reply, Reply::Error { .. }), "a refusal is an error reply"),
    }
});
