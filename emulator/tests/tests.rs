//! End-to-end tests of the `mtls-sandbox` binary: real processes, real TLS,
//! port 0, temp state dirs. One test binary (modules below) keeps link time
//! down on small machines.

mod api;
mod api_import;
mod apps;
mod apps_clock;
mod apps_isolation;
mod apps_webhooks;
mod architecture;
mod behind_proxy;
mod browser;
mod ci_recipes;
mod cli;
mod client_keys;
mod completions;
mod container;
mod corpus;
mod crash;
mod doctor;
mod environment_failures;
mod faults;
mod first_hour;
mod gateway;
mod handshake;
mod interop;
mod key_pool;
mod lifecycle;
mod limits;
mod oauth;
mod parallel_writers;
mod portal;
mod portal_session;
mod provider_api;
mod provider_events;
mod receiver;
mod scripts;
mod secrets;
mod tls_audit;
mod util;
mod webhooks;
mod workshop;
