//! mtls-sandbox: a local stand-in for an mTLS + OAuth open-banking sandbox.
//!
//! The binary (`main.rs`) is a thin shell over this library; the harness
//! crate uses [`server::start`] to run isolated sandboxes in-process.

pub mod api;
pub mod cli;
pub mod clock;
pub mod config;
pub mod context;
pub mod doctor;
pub mod entropy;
pub mod faults;
pub mod fsutil;
pub mod gateway;
pub mod hosts;
pub mod info;
pub mod inspector;
pub mod instance;
pub mod limits;
pub mod oauth;
pub mod pki;
pub mod portal;
pub mod provider;
pub mod records;
pub mod revocation;
pub mod server;
pub mod state;
pub mod tls;
