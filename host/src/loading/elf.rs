//! Reading a library as an ELF object before it is opened: its class, byte order and machine must
//! be this host's, every loadable segment must lie inside the file, and it must export the plugin
//! descriptor. `dlopen` maps a file without such checks, so a file cut short (a copy or a build
//! caught half-written) would fault inside the dynamic loader and take the process down with it;
//! here it is refused with a message, and nothing of it runs.

use std::path::Path;

use ecdysis_plugin_api::descriptor::DESCRIPTOR_SYMBOL;
use object::elf;
use object::read::elf::{ElfFile64, FileHeader, ProgramHeader};
use object::{Endianness, Object, ObjectSymbol};

use crate::error::LoadError;

/// Where the identification bytes tell the class (32 or 64 bits) and the byte order.
const EI_CLASS: usize = 4;
const EI_DATA: usize = 5;

/// The ELF machine this host runs.
const HOST_MACHINE: u16 = if cfg!(target_arch = "x86_64") {
    elf::EM_X86_64
} else if cfg!(target_arch = "aarch64") {
    elf::EM_AARCH64
} else if cfg!(target_arch = "riscv64") {
    elf::EM_RISCV
} else {
    elf::EM_NONE
};

/// A person's name for an ELF machine.
fn machine_name(machine: u16) -> String {
    match machine {
        elf::EM_X86_64 => "x86-64".to_owned(),
        elf::EM_386 => "x86 (32-bit)".to_owned(),
        elf::EM_AARCH64 => "AArch64".to_owned(),
        elf::EM_ARM => "ARM (32-bit)".to_owned(),
        elf::EM_RISCV => "RISC-V".to_owned(),
        elf::EM_PPC64 => "PowerPC 64".to_owned(),
        elf::EM_S390 => "s390".to_owned(),
        other => format!("ELF machine {other}"),
    }
}

/// Checks that `bytes`, the content of the library at `path`, can be opened safely by this host
/// and is an ecdysis plugin. Reads only; runs nothing.
pub(crate) fn check_loadable(path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    let refuse = |reason: String| LoadError::NotLoadable { path: path.to_owned(), reason };
    // The identification bytes first, so that a foreign file gets a plain answer rather than a
    // parser's complaint.
    let class = bytes.get(EI_CLASS).copied();
    if class != Some(elf::ELFCLASS64) || cfg!(not(target_pointer_width = "64")) {
        return Err(refuse("it is a 32-bit ELF file, and this host runs 64-bit code".to_owned()));
    }
    let little_endian = bytes.get(EI_DATA).copied() == Some(elf::ELFDATA2LSB);
    if little_endian != cfg!(target_endian = "little") {
        return Err(refuse("its byte order is not this host's".to_owned()));
    }
    let header = elf::FileHeader64::<Endianness>::parse(bytes)
        .map_err(|error| refuse(format!("its ELF header cannot be read ({error}); the file may have been cut short")))?;
    let endian = header.endian().map_err(|error| refuse(format!("its ELF header cannot be read ({error})")))?;
    let machine = header.e_machine(endian);
    if machine != HOST_MACHINE {
        return Err(refuse(format!("it is built for {}, but this host runs on {}", machine_name(machine), machine_name(HOST_MACHINE))));
    }
    let segments = header
        .program_headers(endian, bytes)
        .map_err(|error| refuse(format!("its program headers cannot be read ({error}); the file may have been cut short")))?;
    for segment in segments.iter().filter(|segment| segment.p_type(endian) == elf::PT_LOAD) {
        let end = segment.p_offset(endian).checked_add(segment.p_filesz(endian));
        if end.is_none_or(|end| end > bytes.len() as u64) {
            return Err(refuse(format!(
                "it is cut short: a loadable segment ends at byte {}, but the file has {} bytes (was it copied or built while being read?)",
                end.map_or_else(|| "beyond 2^64".to_owned(), |end| end.to_string()),
                bytes.len()
            )));
        }
    }
    let file = ElfFile64::<Endianness>::parse(bytes)
        .map_err(|error| refuse(format!("its ELF structure cannot be read ({error}); the file may have been cut short")))?;
    let descriptor = &DESCRIPTOR_SYMBOL[..DESCRIPTOR_SYMBOL.len() - 1];
    let exports_descriptor =
        file.dynamic_symbols().any(|symbol| !symbol.is_undefined() && symbol.name_bytes().is_ok_and(|name| name == descriptor));
    if !exports_descriptor {
        return Err(LoadError::NotAPlugin { path: path.to_owned() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This test binary itself: an ELF file of this host, but no plugin. Read once.
    fn this_executable() -> Vec<u8> {
        static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        BYTES.get_or_init(|| std::fs::read(std::env::current_exe().unwrap()).unwrap()).clone()
    }

    #[track_caller]
    fn check(bytes: &[u8], expected: &str) {
        let error = check_loadable(Path::new("lib.so"), bytes).unwrap_err();
        let message = error.to_string();
        assert!(message.contains(expected), "`{message}` should contain `{expected}`");
    }

    #[test]
    fn foreign_and_damaged_files_are_refused_with_what_is_wrong() {
        let executable = this_executable();
        let with = |offset: usize, value: &[u8]| {
            let mut bytes = executable.clone();
            bytes[offset..offset + value.len()].copy_from_slice(value);
            bytes
        };
        check(&with(EI_CLASS, &[elf::ELFCLASS32]), "it is a 32-bit ELF file");
        check(&with(EI_DATA, &[elf::ELFDATA2MSB]), "its byte order is not this host's");
        let foreign = if HOST_MACHINE == elf::EM_AARCH64 { elf::EM_X86_64 } else { elf::EM_AARCH64 };
        let e_machine = 18;
        check(&with(e_machine, &foreign.to_le_bytes()), &format!("it is built for {}", machine_name(foreign)));
        // Cut inside its first loadable segment, or after its segments but before its section
        // headers (at the end of the file): refused either way.
        check(&executable[..4096], "it is cut short: a loadable segment ends at byte");
        check(&executable[..executable.len() - 100], "the file may have been cut short");
        check(&executable[..40], "its ELF header cannot be read");
        check(&executable, "it exports no `ECDYSIS_PLUGIN_DESCRIPTOR`");
    }

    proptest::proptest! {
        // A case of the second test copies this test binary, tens of megabytes: fewer cases.
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Whatever a file holds, the reader refuses or accepts it, and never panics or reads
        /// outside it: arbitrary bytes behind a valid identification.
        #[test]
        fn any_bytes_are_read_without_a_panic(tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let mut bytes = b"\x7fELF\x02\x01\x01\x00".to_vec();
            bytes.resize(16, 0);
            bytes.extend_from_slice(&tail);
            let _ = check_loadable(Path::new("lib.so"), &bytes);
        }

        /// A real ELF file with a few bytes of its headers changed: refused or accepted, never a
        /// panic.
        #[test]
        fn a_real_file_with_damaged_headers_is_read_without_a_panic(changes in proptest::collection::vec((0usize..4096, proptest::prelude::any::<u8>()), 1..8)) {
            let mut bytes = this_executable();
            for (position, byte) in changes {
                bytes[position] = byte;
            }
            let _ = check_loadable(Path::new("lib.so"), &bytes);
        }
    }
}
