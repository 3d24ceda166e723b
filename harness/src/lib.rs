//! The mtls-sandbox harness: scripted integration scenarios with workshop
//! transcripts, and [`Sandbox`], an in-process emulator for tests.

pub mod admin;
pub mod apps;
pub mod exchange;
pub mod gate;
pub mod identity;
pub mod outcome;
pub mod parallel;
pub mod receiver;
pub mod report;
pub mod runner;
pub mod sandbox;
pub mod scenario;
pub mod shared;
pub mod stepper;
pub mod suite;
pub mod transcript;
pub mod upstream;

pub use sandbox::Sandbox;
