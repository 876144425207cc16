//! Keeping terminals in step with the staff list (API Part 7, "How
//! terminals follow the list"): the pure planner (`plan`) that compares
//! the list with what a terminal holds, in both directions.

pub mod engine;
pub mod plan;
pub mod pull;
pub mod sync;

pub use plan::{
    plan, HeldTemplate, HeldUser, Holdings, ListEntry, Plan, Sent, TemplateKey, TerminalProfile,
};
