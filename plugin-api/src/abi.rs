//! FFI-safe primitive types that cross the plugin boundary: borrowed strings and slices, byte sinks
//! and call statuses.
//!
//! Every value that crosses between a host and a plugin is either a primitive (integers, floats,
//! `bool`), one of the `#[repr(C)]` types in this module, or MessagePack bytes carried by them. No
//! Rust-layout type, no allocation and no vtable crosses the boundary.

use std::ffi::c_void;
use std::marker::PhantomData;

/// A borrowed UTF-8 string passed across the boundary as pointer and length.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RawStr {
    ptr: *const u8,
    len: usize,
}

impl RawStr {
    /// Borrows `text` for the duration of a call (or for `'static`, in a descriptor).
    #[must_use]
    pub const fn new(text: &str) -> RawStr {
        RawStr { ptr: text.as_ptr(), len: text.len() }
    }

    /// Reads the bytes back, without assuming they are UTF-8 (for a host reading a descriptor it
    /// does not trust yet).
    ///
    /// # Safety
    /// As for [`RawStr::as_str`].
    #[must_use]
    pub unsafe fn as_bytes<'a>(self) -> &'a [u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: the caller promises ptr/len came from a live `&str`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// Reads the string back.
    ///
    /// # Safety
    /// `self` must have been made by [`RawStr::new`] from a string that is still alive for `'a`
    /// and that nobody mutates meanwhile.
    #[must_use]
    pub unsafe fn as_str<'a>(self) -> &'a str {
        // SAFETY: the caller promises ptr/len came from a live `&str`, which is valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(self.ptr, self.len)) }
    }
}

/// A borrowed slice passed across the boundary as pointer and length.
#[repr(C)]
#[derive(Debug)]
pub struct RawSlice<T> {
    ptr: *const T,
    len: usize,
}

impl<T> Clone for RawSlice<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for RawSlice<T> {}

impl<T> RawSlice<T> {
    /// Borrows `items` for the duration of a call (or for `'static`, in a descriptor).
    #[must_use]
    pub const fn new(items: &[T]) -> RawSlice<T> {
        RawSlice { ptr: items.as_ptr(), len: items.len() }
    }

    /// Reads the slice back.
    ///
    /// # Safety
    /// `self` must have been made by [`RawSlice::new`] from a slice that is still alive for `'a`
    /// and that nobody mutates meanwhile.
    #[must_use]
    pub unsafe fn as_slice<'a>(self) -> &'a [T] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: the caller promises ptr/len came from a live slice.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// A writer owned by the caller into which the callee copies bytes.
///
/// This is how results, exported state and error messages leave a plugin: the bytes are copied
/// into memory the host allocated, by a function of the host, so no plugin allocation outlives the
/// call that made it.
#[repr(C)]
pub struct ByteSink<'a> {
    context: *mut c_void,
    write: unsafe extern "C" fn(context: *mut c_void, ptr: *const u8, len: usize),
    _target: PhantomData<&'a mut Vec<u8>>,
}

impl<'a> ByteSink<'a> {
    /// A sink that appends to `buffer`.
    #[must_use]
    #[inline]
    pub fn for_vec(buffer: &'a mut Vec<u8>) -> ByteSink<'a> {
        unsafe extern "C" fn append(context: *mut c_void, ptr: *const u8, len: usize) {
            // SAFETY: `context` is the `&mut Vec<u8>` given to `for_vec`, borrowed for the sink's
            // lifetime, and the writer passes a live byte range.
            unsafe {
                let buffer = &mut *(context as *mut Vec<u8>);
                buffer.extend_from_slice(std::slice::from_raw_parts(ptr, len));
            }
        }
        ByteSink { context: buffer as *mut Vec<u8> as *mut c_void, write: append, _target: PhantomData }
    }

    /// Copies `bytes` into the sink's buffer.
    pub fn write(&mut self, bytes: &[u8]) {
        // SAFETY: `context` and `write` were paired by `for_vec`; `bytes` is a live slice.
        unsafe { (self.write)(self.context, bytes.as_ptr(), bytes.len()) }
    }
}

/// The outcome of one call across the boundary. A transparent integer, never a Rust enum, so that
/// an unexpected value from a foreign library is an error rather than undefined behaviour.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallStatus(pub u32);

impl CallStatus {
    /// The call returned normally and wrote its result.
    pub const OK: CallStatus = CallStatus(0);
    /// The plugin panicked; the error sink holds the panic message.
    pub const PANICKED: CallStatus = CallStatus(1);
    /// The plugin returned an error; the error sink holds its message.
    pub const FAILED: CallStatus = CallStatus(2);
    /// Arguments or state could not be decoded; the error sink holds the decoder's message.
    pub const DECODE_FAILED: CallStatus = CallStatus(3);
}
