//! dialsync's end-to-end tests, one binary: the engine's delivery rules against the
//! emulator, and several real `dialsync` processes on one journal.

mod console_data;
mod processes;
mod scale_out_pg;
mod support;
mod sync_engine;
mod sync_postgres;
mod sync_semantics;
