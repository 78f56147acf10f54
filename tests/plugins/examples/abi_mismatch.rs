//! A plugin built for another ABI version: the descriptor header announces ABI version + 1, whose
//! layout after the header this host cannot know.

// A fixture that must export a symbol by hand (or use one nothing defines), which only unsafe
// code can do.
#![allow(unsafe_code)]

use ecdysis_plugin_api::ABI_VERSION;
use ecdysis_plugin_api::descriptor::{DescriptorHeader, MAGIC};

/// A descriptor header from the future.
#[unsafe(no_mangle)]
pub static ECDYSIS_PLUGIN_DESCRIPTOR: DescriptorHeader =
    DescriptorHeader { magic: MAGIC, abi_version: ABI_VERSION + 1, descriptor_size: size_of::<DescriptorHeader>() as u32 };
