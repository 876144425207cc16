//! Push terminals (the ZKTeco "ADMS"/"iclock" HTTP protocol): the terminal
//! is the HTTP client. `protocol` parses and renders its texts, with no I/O;
//! `commands` maps API requests to queued commands and their results;
//! `forward` relays requests to another server; `presence` turns last
//! contacts into online/offline events; `trust` decides who may speak for
//! a registered terminal; `people` keeps push terminals in step with the
//! staff list.

pub mod commands;
pub mod forward;
pub mod people;
pub mod presence;
pub mod protocol;
pub mod receiver;
pub mod trust;
