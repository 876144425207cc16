//! Push terminals (the ZKTeco "ADMS"/"iclock" HTTP protocol): the terminal
//! is the HTTP client. `protocol` parses and renders its texts, with no I/O.

pub mod protocol;
pub mod receiver;
