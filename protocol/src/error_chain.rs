//! [`ErrorChain`]: the one way an error is shown to an operator, with every cause down to the root.

use std::error::Error;
use std::fmt;

/// An error and its causes (its [`source`](Error::source) chain), for people to read.
///
/// `{}` writes one line, `outer: cause: root cause`; `{:#}` writes the error on the first line and
/// each cause on a line of its own, indented, after `caused by: `. Every operator-facing message
/// of ecdysis goes through it: control-socket error replies, history entries, the `ecdysis` tool's
/// and `cargo xtask`'s output, and the sample programs' logs. So the operator always sees the root
/// cause, e.g. the dynamic loader's own reason for refusing a library.
///
/// This works because of a rule every error type of ecdysis follows: a message says what failed,
/// lowercase, and does *not* repeat its cause; the cause is only its `source`. For errors of other
/// crates that do repeat it, a cause whose text the message already ends with is not written
/// again.
///
/// ```
/// use ecdysis_protocol::ErrorChain;
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("could not open shared library `libkv.so`")]
/// struct OpenError(#[source] std::io::Error);
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("kv 2.0.0 was refused")]
/// struct UpdateError(#[source] OpenError);
///
/// let root = std::io::Error::other("undefined symbol: kv_missing");
/// let error = UpdateError(OpenError(root));
/// assert_eq!(
///     ErrorChain(&error).to_string(),
///     "kv 2.0.0 was refused: could not open shared library `libkv.so`: undefined symbol: kv_missing"
/// );
/// assert_eq!(
///     format!("{:#}", ErrorChain(&error)),
///     "kv 2.0.0 was refused\n  caused by: could not open shared library `libkv.so`\n  caused by: undefined symbol: kv_missing"
/// );
/// // Boxed errors, as `main` often holds them, render the same way.
/// let boxed: Box<dyn std::error::Error> = Box::new(error);
/// assert!(ErrorChain(&*boxed).to_string().ends_with(": undefined symbol: kv_missing"));
/// ```
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl ErrorChain<'_> {
    /// The one-line rendering of `error` with its causes, as a string (for a reply or a history
    /// entry).
    #[must_use]
    pub fn render(error: &(dyn Error + 'static)) -> String {
        ErrorChain(error).to_string()
    }
}

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.to_string();
        formatter.write_str(&shown)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            let text = error.to_string();
            // A message that already ends with its cause (against the rule, in another crate's
            // error) is not followed by it a second time.
            if !shown.ends_with(&text) {
                if formatter.alternate() {
                    write!(formatter, "\n  caused by: {text}")?;
                } else {
                    write!(formatter, ": {text}")?;
                }
            }
            shown = text;
            cause = error.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, formatter)
    }
}
