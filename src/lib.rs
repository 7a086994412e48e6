//! `kv`: the shell and `kv bench` around the [`kv_engine`] crate, as a library so every
//! part is testable without a terminal. The engine is a separate crate, so the compiler
//! holds this one to the engine's public API.

pub mod bench;
pub mod shell;
