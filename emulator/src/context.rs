//! The context every request handler shares: configuration, the default
//! application's credentials and the records database. Built once at start.

use std::sync::Arc;

use crate::config::Config;
use crate::oauth::Authority;
use crate::records::Records;
use crate::state::AppCredentials;

pub struct Context {
    pub config: Config,
    pub app: AppCredentials,
    pub records: Records,
    pub oauth: Authority,
}

pub type Ctx = Arc<Context>;
