//! sertool: one TOML file in, a reproducible, content-hashed speech-emotion-recognition pipeline out.
//!
//! The map of the crate lives in ARCHITECTURE.md at the repository root.

pub mod audio;
pub mod bench;
pub mod cli;
pub mod config;
pub mod corpus;
pub mod engine;
pub mod error;
pub mod features;
pub mod models;
pub mod pipeline;
pub mod records;
pub mod report;
pub mod rng;
pub mod stages;
pub mod table;
pub mod util;

/// Version recorded in every cache entry's meta.json.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
