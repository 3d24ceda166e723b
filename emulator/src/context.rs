//! The context every request handler shares: configuration, the default
//! application's credentials and the records database. Built once at start.

use std::sync::Arc;

use crate::config::Config;
use crate::faults::Faults;
use crate::gateway::Gateway;
use crate::info::SandboxInfo;
use crate::inspector::Inspector;
use crate::oauth::Authority;
use crate::records::Records;
use crate::state::{AppCredentials, State};

pub struct Context {
    pub config: Config,
    pub app: AppCredentials,
    pub records: Records,
    pub oauth: Authority,
    /// Routes of the mtls host to the user's own API (gateway mode).
    pub gateway: Gateway,
    /// Installed fault rules (SPEC §6).
    pub faults: Faults,
    /// The state dir, for effects that write to it (revocation, key rotation).
    pub state: State,
    /// Recent requests and refused handshakes, for the portal.
    pub inspector: Arc<Inspector>,
    /// URLs, file paths and the portal token, as `sandbox.json` has them.
    pub info: SandboxInfo,
    /// The portal's browser session path segment (`/portal/<this>/`): new
    /// at every start and, unlike the token, in no file (see
    /// `portal::session`).
    pub portal_session: String,
    /// Poked after a revocation so the mtls host reloads its CRL at once.
    pub crl_changed: Arc<tokio::sync::Notify>,
    /// The loaded CRL's serials, checked on every mtls request.
    pub revoked: crate::revocation::RevokedSerials,
}

pub type Ctx = Arc<Context>;
