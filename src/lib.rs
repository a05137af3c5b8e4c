//! shelfwise: a desktop app that recommends books from what their covers look
//! like and what their synopses say. The library crate holds every job, so that
//! the window, the command line, tests and benchmarks share one code path.
//!
//! Modules, from the bottom up (each uses only those listed before it):
//! `allocator`, `jobs`, `paths`, `eval`, `store`, `text`, `import`, `model`, `backbone`, `embed`,
//! `train`, `inference`, `recommend`, `project`, `check`, `export`, `duplicates`, `app`, `ui`, `cli`.

pub mod allocator;
pub mod analysis;
pub mod app;
pub mod backbone;
pub mod check;
pub mod cli;
pub mod duplicates;
pub mod embed;
pub mod embedding_export;
pub mod eval;
pub mod export;
pub mod import;
pub mod inference;
pub mod jobs;
pub mod model;
pub mod paths;
pub mod project;
pub mod recommend;
pub mod report;
pub mod store;
pub mod text;
pub mod train;
pub mod ui;
