//! shelfwise: a desktop app that recommends books from what their covers look
//! like and what their synopses say. The library crate holds every job, so that
//! the window, the command line, tests and benchmarks share one code path.
//!
//! Modules, from the bottom up (each uses only those listed before it):
//! `jobs`, `paths`, `eval`, `store`, `text`, `import`, `model`, `embed`,
//! `train`, `inference`, `recommend`, `project`, `app`, `ui`, `cli`.

pub mod jobs;
pub mod paths;
pub mod eval;
pub mod store;
pub mod text;
pub mod import;
pub mod model;
pub mod embed;
pub mod train;
pub mod inference;
pub mod recommend;
pub mod project;
pub mod app;
pub mod ui;
pub mod cli;
