//! Command names, read the way every kv version dispatches them.

/// The longest command name any version knows, in bytes; longer names are unknown commands.
const LONGEST_COMMAND_NAME: usize = 16;

/// A command name in ASCII lowercase, held on the stack so that dispatch allocates nothing.
pub struct LowercaseName {
    buffer: [u8; LONGEST_COMMAND_NAME],
    length: usize,
}

impl LowercaseName {
    /// Lowercases `name`. A name longer than any command becomes the empty name, which no command
    /// has, so it is reported as unknown.
    #[must_use]
    pub fn new(name: &[u8]) -> LowercaseName {
        let mut buffer = [0; LONGEST_COMMAND_NAME];
        let Some(prefix) = buffer.get_mut(..name.len()) else {
            return LowercaseName { buffer, length: 0 };
        };
        prefix.copy_from_slice(name);
        prefix.make_ascii_lowercase();
        LowercaseName { buffer, length: name.len() }
    }

    /// The lowercase name.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.get(..self.length).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercased_and_overlong_names_become_empty() {
        assert_eq!(LowercaseName::new(b"GeT").as_bytes(), b"get");
        assert_eq!(LowercaseName::new(b"").as_bytes(), b"");
        assert_eq!(LowercaseName::new(&[b'A'; 17]).as_bytes(), b"");
    }
}
