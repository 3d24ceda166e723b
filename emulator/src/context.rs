//! The context every request handler shares: configuration, the default
//! application's credentials and the records database. Built once at start.

use std::sync::Arc;

use crate::config::Config;
use crate::gateway::Gateway;
use crate::oauth::Authority;
use crate::records::Records;
use crate::state::AppCredentials;

pub struct Context {
    pub config: Config,
    pub app: AppCredentials,
    pub records: Records,
    pub oauth: Authority,
    /// Routes of the mtls host to the user's own API (gateway mode).
    pub gateway: Gateway,
}

pub type Ctx = Arc<Context>;
