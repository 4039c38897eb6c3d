//! Integration tests of the Genesys client against the real emulator over loopback, compiled
//! into one test binary (a module per concern). Tests that need minutes of rate windows run
//! on tokio's paused clock: the emulator's windows and token lifetimes use the same clock, so
//! a 3-minute storm takes milliseconds and its timings are exact.

mod auth;
mod endpoints;
mod errors;
mod fidelity;
mod rate_limit;
mod retries;
mod support;
