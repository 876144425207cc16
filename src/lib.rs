//! zkserver: serves ZKTeco time clocks' data as JSON over HTTP.
//!
//! Layers, each in its own module: `zk` speaks the terminals' binary protocol,
//! `registry` holds the configured devices, `ops` runs one locked conversation
//! with a terminal, `http` is the JSON API, and `sim` is a terminal simulator
//! for tests, benchmarks and `--demo`.

pub mod atomic_file;
pub mod cli;
pub mod collect;
pub mod config;
pub mod cursor;
pub mod delivery;
pub mod demo;
pub mod downloads;
pub mod fields;
pub mod http;
pub mod ipnet;
pub mod journal;
pub mod live;
pub mod logging;
pub mod messages;
pub mod metrics;
pub mod ops;
pub mod people;
pub mod postgres;
pub mod punch;
pub mod push;
pub mod registry;
pub mod reports;
pub mod secret;
pub mod server;
pub mod services;
pub mod signal;
pub mod sim;
pub mod text;
pub mod time;
pub mod url;
pub mod zk;
