//! Harness tests, compiled as one binary.

mod cli;
mod fixture;
mod parallel;
mod reports;
mod scenarios;
mod step;
