//! An authorization server on a fresh state dir, for unit tests here and in
//! other modules (`apps`): P-256 client key and ES256 signing, so no RSA key
//! is made; a system clock the test may move.

use std::path::Path;
use std::sync::Arc;

use super::Authority;
use super::keys::SigningAlg;
use crate::clock::Clock;
use crate::config::Config;
use crate::entropy::Entropy;
use crate::info::SandboxInfo;
use crate::key_type::KeyType;
use crate::records::Records;
use crate::state::{State, files};
use crate::tls::TlsOptions;

/// The authorization server and what it was made of.
pub(crate) struct Parts {
    pub authority: Authority,
    pub clock: Arc<Clock>,
    pub state: State,
    pub records: Arc<Records>,
    pub info: SandboxInfo,
}

pub(crate) fn on_fresh_state(dir: &Path) -> Parts {
    let state = State::load_or_create_with(dir, &Entropy::SYSTEM, KeyType::P256).unwrap();
    let mut config = Config::new(&state.dir);
    config.oauth.signing_alg = SigningAlg::ES256;
    let clock = Arc::new(Clock::system());
    let info = config.sandbox_info(&state, [1, 2, 3], &clock);
    let opts = TlsOptions {
        clock: clock.clone(),
        ..Default::default()
    };
    let verifier = crate::tls::sandbox_ca_verifier(&crate::server::ca_material(&state).unwrap(), &opts).unwrap();
    let records = Arc::new(Records::open(&state.path(files::RECORDS)).unwrap());
    let setup = crate::server::authority_setup(&state, &config, &info, &Entropy::SYSTEM, verifier, None).unwrap();
    let authority = Authority::new(setup, records.clone(), state.clone(), clock.clone());
    Parts {
        authority,
        clock,
        state,
        records,
        info,
    }
}
