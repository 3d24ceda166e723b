//! The mtls-sandbox harness: scripted integration scenarios with workshop
//! transcripts, and [`Sandbox`], an in-process emulator for tests.

pub mod identity;
pub mod outcome;
pub mod receiver;
pub mod report;
pub mod runner;
pub mod sandbox;
pub mod scenario;
pub mod transcript;
pub mod upstream;

pub use sandbox::Sandbox;
