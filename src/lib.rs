//! adsched: scheduled ad-generation jobs, GitOps style.
//!
//! The pure parts — [`spec`] (documents and validation) and [`calendar`]
//! (fire times in a zone) — carry the logic; [`commands`] wires them to the
//! command line.

pub mod calendar;
pub mod commands;
pub mod spec;
