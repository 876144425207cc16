//! End-to-end tests: the real server (in process, or the binary as a child
//! process) against simulated terminals, over real sockets on 127.0.0.1.
//! One test binary, one module per area.

// A scenario test reads top to bottom as one story; the 80-line rule
// (clippy.toml) is for the server's code.
#![allow(clippy::too_many_lines)]

mod common;

mod attendance;
mod cli;
mod commands;
mod concurrency;
mod docs;
mod exe;
mod faces;
mod failures;
mod hostile;
mod http_api;
mod journal;
mod layout;
mod live;
mod people;
mod people_push;
mod people_sync;
#[cfg(unix)]
mod postgres;
#[cfg(unix)]
mod postgres_harness;
mod push;
mod push_pending;
mod push_restart;
mod registry_api;
mod reports;
mod security;
mod status;
mod sync;
mod templates;
mod users_api;
mod webhooks;
