//! The three hosts a sandbox serves, as one small enum every layer shares
//! (TLS policy, routing, logs, `sandbox.json`).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Host {
    /// Server-auth TLS only; callers authenticate with `lean-app-token`
    /// or a bearer token.
    Sandbox,
    /// Mutual TLS: a client certificate chaining to the sandbox root is
    /// required at the handshake.
    Mtls,
    /// The OAuth authorization server. Accepts any client certificate at the
    /// TLS layer; the client's registration decides what it is worth.
    Auth,
}

impl Host {
    pub const ALL: [Host; 3] = [Host::Sandbox, Host::Mtls, Host::Auth];

    pub fn name(self) -> &'static str {
        match self {
            Host::Sandbox => "sandbox",
            Host::Mtls => "mtls",
            Host::Auth => "auth",
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
