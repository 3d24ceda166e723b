//! mtls-sandbox: a local stand-in for an mTLS + OAuth open-banking sandbox.
//!
//! The binary (`main.rs`) is a thin shell over this library; the harness
//! crate uses [`server::start`] to run isolated sandboxes in-process.
//!
//! # Layout
//!
//! One direction of dependency, top to bottom; nothing imports a layer
//! above it (`tests/architecture.rs` checks the rules that matter most).
//!
//! - [`cli`]: flags → [`config::Config`] → calls the library; prints.
//! - [`server`]: the composition root. Turns the `Config` into each part's
//!   own settings, takes the clock and entropy as a [`server::Runtime`],
//!   binds the three listeners, serves and drains. `router` assembles each
//!   host's router from the areas' `routes()` and the cross-cutting layers
//!   (access log, head limits, fault injection, revocation check, and
//!   behind a proxy the forwarded client certificate).
//! - `web`: the HTTP edge every area shares — the provider-shaped error,
//!   body and `Authorization` parsing, the notes the inspector reads.
//! - The areas, each with its handlers, its `routes()` and its own state:
//!   `api` (the resource API), [`oauth`] (the authorization server; never
//!   imports the resource API), `portal`, [`gateway`], `faults`,
//!   [`inspector`], [`webhooks`] (its `/admin/webhooks`).
//! - The services the areas share: [`oauth::Authority`] (owns its records,
//!   clock and signing key; verifies bearer tokens with their certificate
//!   binding), `application` (the default application's current
//!   credentials), `apps` (every application: records, files, the
//!   app-token and client lookups, and its `/admin/apps`), [`revocation`] (revoking and the CRL reload),
//!   [`webhooks::Webhooks`] (queues the provider's events and delivers them
//!   to the application's URL; handed to the areas that emit events).
//! - The core, no HTTP: [`tls`] (its client configuration is what the
//!   harness and the tests connect with), [`records`], [`state`], [`pki`], [`info`],
//!   [`proxy`] (behind the user's TLS terminator: who may forward a client
//!   certificate, how the header reads, the verdict for one request).
//! - Leaves, injected where needed: [`clock`], [`entropy`], `fsutil`,
//!   [`storage`] (a full or read-only disk, named and explained),
//!   [`limits`], `hosts`.
//!
//! The public modules are what the binary, the harness, the integration
//! tests and the fuzz targets use; the rest is private.

mod api;
mod application;
mod apps;
pub mod cli;
pub mod clock;
pub mod config;
mod doctor;
pub mod entropy;
pub mod exit_gate;
mod faults;
mod fsutil;
pub mod gateway;
mod hosts;
pub mod info;
pub mod inspector;
mod instance;
pub mod key_pool;
pub mod key_type;
pub mod limits;
pub mod oauth;
mod per_cert;
pub mod pki;
mod portal;
mod provider;
pub mod proxy;
pub mod records;
pub mod revocation;
mod router;
pub mod server;
pub mod state;
pub mod storage;
pub mod tls;
mod web;
pub mod webhooks;
