//! dialsync keeps Genesys Cloud Outbound contact lists (and agent routing settings)
//! in step with CRMs. This crate is the `dialsync` command and the pieces that join
//! the plugin runtime, the Genesys client and the emulator into one tool.

/// The process's allocator, for the `dialsync` binary and everything built on this crate
/// (its tests and benchmarks too). A busy `serve` allocates and frees for every request
/// (HTTP buffers, JSON values, plugin results); glibc's malloc — its bin searches, frees and
/// consolidations — was a fifth of the CPU in the `webhooks` bench (`perf`). mimalloc keeps
/// per-thread free lists and does the same work for a fraction of that.
///
/// Built with `no_thp`: by default mimalloc asks the kernel for transparent huge pages
/// (`madvise(MADV_HUGEPAGE)` on its 1 GiB arena), and each time it handed freed memory
/// back and touched it again the kernel zeroed a whole 2 MiB page — 13 % of the CPU of
/// the `webhooks` bench at 8 senders (`clear_page_erms` under mimalloc's page faults).
/// Without them, in 3 interleaved pairs of runs, the bench accepted 21–63 % more webhooks
/// per second at 32 senders (p99 4.0–5.7 ms against 6.7–11.5) and −1 to +35 % at 8.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod agents;
pub mod cli;
pub mod config;
pub mod console;
pub mod demo;
pub mod genesys_port;
pub mod journal_store;
pub mod pg_lock;
pub mod pg_store;
pub mod plugin_new;
pub mod plugin_registry;
pub mod plugin_test;
pub mod pull;
pub mod server;
pub mod subscribe;
pub mod sync;
