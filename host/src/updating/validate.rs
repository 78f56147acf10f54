//! Validation of a state transfer: the structural comparison of the running version's export with
//! the candidate's export back, shared with plugins (which compare each entry they migrate lazily)
//! and so defined in `ecdysis-plugin-api`.

pub(crate) use ecdysis_plugin_api::compare::compare;
