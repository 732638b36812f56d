//! adsched: scheduled ad-generation jobs, GitOps style.
//!
//! The pure parts — [`spec`] (documents and validation), [`calendar`] (fire
//! times in a zone), [`reconcile`] (documents against stored state) and
//! [`scheduler`] (firing decisions) — carry the logic. [`store`] is the
//! interface to the records (only `store::sled` knows sled); [`daemon`],
//! [`run`] and [`api`] are the edges.
//! Every edge (API, CLI, MCP server, dashboard) answers the queries of
//! [`service`] and speaks the types of [`views`].

#![warn(missing_docs)]

pub mod api;
pub mod calendar;
pub mod client;
pub mod clock;
pub mod commands;
pub mod daemon;
pub mod dashboard;
pub mod export;
pub mod mcp;
pub mod media;
pub mod metrics;
pub mod reconcile;
pub mod records;
pub mod run;
pub mod scheduler;
pub mod service;
pub mod settings;
pub mod spec;
pub mod store;
pub mod views;
