//! How each type crosses the boundary: byte buffers and times round-trip exactly through a real
//! plugin in a compact raw form (never one MessagePack integer per byte), and a type without serde's
//! traits is refused at compile time with a message that names the boundary.

use std::fmt::Debug;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ecdysis_host::{CallError, Module};
use ecdysis_plugin_api::Interface;
use ecdysis_plugin_api::crossing::{Bytes, RawForm, encode_raw};
use ecdysis_tests::workspace_root;

use super::*;

#[path = "../../plugins/examples/crossing_interface/mod.rs"]
mod crossing_interface;
use crossing_interface::Echo;

const MEBIBYTE: usize = 1 << 20;

/// A buffer of `length` bytes that are not all alike.
fn buffer(length: usize) -> Vec<u8> {
    (0..length).map(|index| (index % 251) as u8).collect()
}

fn echo() -> (Host, Module<dyn Echo>) {
    let host = host();
    let echo = host.load::<dyn Echo>(defective("crossing")).unwrap();
    (host, echo)
}

/// Checks that `value` crosses to the plugin and back through `call` unchanged, and that its raw
/// form, as the generated code sends it, takes at most `largest_wire_form` bytes.
#[track_caller]
fn check<T>(echo: &Module<dyn Echo>, value: T, largest_wire_form: usize, call: impl FnOnce(&EchoProxyOf<'_>, T) -> Result<T, CallError>)
where
    T: for<'a> RawForm<'a> + Clone + PartialEq + Debug,
{
    let wire_length = encode_raw(&value).len();
    let shown = format!("{value:?}");
    let shown = if shown.len() > 80 { format!("{}…", &shown[..80]) } else { shown };
    assert!(wire_length <= largest_wire_form, "{shown} crosses in {wire_length} bytes, more than {largest_wire_form}");
    let returned = echo.call(|proxy| call(proxy, value.clone())).unwrap_or_else(|error| panic!("{shown} did not cross: {error}"));
    assert!(returned == value, "{shown} came back as something else");
}

type EchoProxyOf<'call> = <dyn Echo as Interface>::Proxy<'call>;

#[test]
fn bytes_cross_as_their_raw_bytes() {
    let (_host, echo) = echo();
    for length in [0, 1, 1000, MEBIBYTE] {
        check(&echo, Bytes::from(buffer(length)), length, |echo, value| echo.echo_bytes(value));
        check(&echo, buffer(length), length, |echo, value| echo.echo_vector(value));
    }
}

#[test]
fn an_optional_byte_vector_crosses_as_a_presence_byte_and_its_bytes() {
    let (_host, echo) = echo();
    check(&echo, None, 1, |echo, value| echo.maybe(value));
    check(&echo, Some(Vec::new()), 1, |echo, value| echo.maybe(value));
    check(&echo, Some(buffer(3)), 4, |echo, value| echo.maybe(value));
    check(&echo, Some(buffer(MEBIBYTE)), MEBIBYTE + 16, |echo, value| echo.maybe(value));
    // What it took as MessagePack, one integer per byte (two for bytes of 128 and more): 40% more.
    let as_message_pack = ecdysis_plugin_api::__private::encode(&Some(buffer(MEBIBYTE))).unwrap().len();
    assert!(as_message_pack > MEBIBYTE * 7 / 5, "MessagePack took only {as_message_pack} bytes");
}

#[test]
fn an_optional_byte_slice_argument_arrives_as_it_was_lent() {
    let (_host, echo) = echo();
    let large = buffer(MEBIBYTE);
    let cases: [(Option<&[u8]>, usize); 4] = [(None, usize::MAX), (Some(&[]), 0), (Some(b"abc"), 3), (Some(&large), MEBIBYTE)];
    for (value, length) in cases {
        assert!(encode_raw(&value).len() <= value.map_or(0, <[u8]>::len) + 1);
        echo.call(|echo| {
            assert_eq!(echo.maybe_slice(value).unwrap(), length);
            assert_eq!(echo.maybe_slice_copied(value).unwrap().as_deref(), value);
        });
    }
}

#[test]
fn byte_vectors_cross_as_a_count_and_each_one_with_its_length() {
    let (_host, echo) = echo();
    let cases = [vec![], vec![vec![]], vec![buffer(1), vec![], buffer(300)], vec![buffer(MEBIBYTE), buffer(7)]];
    for chunks in cases {
        let largest = 8 + chunks.iter().map(|chunk| 8 + chunk.len()).sum::<usize>();
        check(&echo, chunks, largest, |echo, value| echo.chunks(value));
    }
}

#[test]
fn durations_cross_as_seconds_and_nanoseconds() {
    let (_host, echo) = echo();
    let cases =
        [Duration::ZERO, Duration::from_nanos(1), Duration::from_millis(1500), Duration::MAX - Duration::from_nanos(1), Duration::MAX];
    for duration in cases {
        check(&echo, duration, 12, |echo, value| echo.wait(value));
        check(&echo, duration, 12, |echo, value| echo.wait_borrowed(&value));
    }
}

#[test]
fn system_times_cross_as_seconds_and_nanoseconds_from_the_epoch_on_either_side_of_it() {
    let (_host, echo) = echo();
    let century = Duration::from_secs(100 * 365 * 86_400);
    let cases = [
        UNIX_EPOCH,
        SystemTime::now(),
        UNIX_EPOCH - Duration::from_nanos(1),
        UNIX_EPOCH - Duration::from_secs(1),
        UNIX_EPOCH - century - Duration::from_millis(500),
        UNIX_EPOCH + century * 100 + Duration::new(0, 999_999_999),
    ];
    for time in cases {
        check(&echo, time, 12, |echo, value| echo.at(value));
        check(&echo, time, 12, |echo, value| echo.at_borrowed(&value));
    }
}

/// A method whose arguments and result crossed as MessagePack before the raw forms.
#[ecdysis_plugin_api::interface]
trait Maybe {
    fn maybe(&self, value: Option<Vec<u8>>) -> Option<Vec<u8>>;
}

#[test]
fn a_signature_with_raw_forms_has_another_fingerprint_than_when_it_crossed_as_message_pack() {
    use ecdysis_plugin_api::__private::fnv1a64;
    // A plugin built before the raw forms carries the fingerprint of the unmarked signature; the
    // host compares fingerprints before it calls anything, so it refuses such a plugin instead of
    // misreading its MessagePack as raw bytes.
    let before = fnv1a64(b"ecdysis-interface/3;maybe(Option < Vec < u8 > >)->Option < Vec < u8 > >;");
    let now = fnv1a64(b"ecdysis-interface/3;maybe(Option < Vec < u8 > > as raw)->Option < Vec < u8 > > as raw;");
    assert_eq!(<dyn Maybe as Interface>::FINGERPRINT, now);
    assert_ne!(now, before);
}

/// How long the compilation of the crate with a type lacking serde's traits may take, at most: it
/// builds the plugin API's dependencies the first time.
const COMPILE_DEADLINE: Duration = Duration::from_secs(900);

#[test]
fn a_type_without_serde_or_a_lookalike_of_a_raw_form_is_refused_with_a_message_that_names_the_boundary() {
    let directory = tempfile::tempdir().unwrap();
    let plugin_api = workspace_root().join("plugin-api");
    std::fs::write(
        directory.path().join("Cargo.toml"),
        format!(
            "[package]\nname = \"crossing-without-serde\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
             [dependencies]\necdysis-plugin-api = {{ path = {:?} }}\n\n[workspace]\n",
            plugin_api.display().to_string()
        ),
    )
    .unwrap();
    // The workspace's lock file, so that the check resolves to what is already downloaded.
    std::fs::copy(workspace_root().join("Cargo.lock"), directory.path().join("Cargo.lock")).unwrap();
    std::fs::create_dir(directory.path().join("src")).unwrap();
    std::fs::write(
        directory.path().join("src/lib.rs"),
        "//! An interface whose argument has no serde traits, and one whose own `Duration` is taken\n\
         //! for the standard one.\n\
         pub struct Ticket { pub number: u64 }\n\
         #[ecdysis_plugin_api::interface]\n\
         pub trait Booth { fn hand_in(&self, ticket: Ticket) -> u64; }\n\
         pub mod lookalike {\n\
             pub struct Duration(pub u64);\n\
             #[ecdysis_plugin_api::interface]\n\
             pub trait Timer { fn arm(&self, after: Duration); }\n\
         }\n",
    )
    .unwrap();
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"));
    let mut child = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(directory.path())
        .args(["check", "--quiet", "--color", "never"])
        // A directory of its own under the tests' target, kept across runs so that the plugin API's
        // dependencies are checked once.
        .env("CARGO_TARGET_DIR", target.join("crossing-compile-check"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
        text
    });
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > COMPILE_DEADLINE {
            child.kill().unwrap();
            panic!("checking the crate took more than {COMPILE_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let stderr = reader.join().unwrap();
    assert!(!status.success(), "a type without serde's traits was accepted:\n{stderr}");
    let first_error = stderr.lines().find(|line| line.starts_with("error")).unwrap_or_else(|| panic!("no error in:\n{stderr}"));
    assert_eq!(
        first_error,
        "error[E0277]: `Ticket` cannot cross the plugin boundary because it does not implement serde's `Serialize` and `DeserializeOwned`",
        "in:\n{stderr}"
    );
    assert!(stderr.contains("derive `serde::Serialize` and `serde::Deserialize` for it, or pass it as bytes"), "in:\n{stderr}");
    assert!(
        stderr.contains(
            "error[E0277]: `lookalike::Duration` is spelled like a type that crosses the plugin boundary in raw form, but is not one"
        ),
        "in:\n{stderr}"
    );
}
