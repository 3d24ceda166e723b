//! The verified-token cache seen through [`Authority::verify`]: a cached
//! token is still refused once it expires, is revoked, or its key rotates.

use super::*;

/// An authorization server on a fresh state dir, on a clock the test moves.
fn authority(dir: &std::path::Path) -> (Authority, Arc<Clock>) {
    let parts = super::super::test_authority::on_fresh_state(dir);
    (parts.authority, parts.clock)
}

fn token(authority: &Authority, format: TokenFormat) -> (String, String) {
    let mut client = authority.registry.list().unwrap().remove(0);
    client.token_format = format;
    let who = Authenticated {
        method: client.auth_method,
        client,
        thumbprint: None,
    };
    let grant = authority.grant(&who, "api".into()).unwrap();
    (grant.access_token, who.client.client_id)
}

fn refusal(result: Result<Arc<Verified>, VerifyError>) -> TokenError {
    match result {
        Err(VerifyError::Token(e)) => e,
        other => panic!("expected a token refusal, got {other:?}"),
    }
}

#[test]
fn a_cached_token_is_refused_once_expired_and_accepted_again_when_the_clock_goes_back() {
    let tmp = tempfile::tempdir().unwrap();
    let (authority, clock) = authority(&tmp.path().join("s"));
    for format in [TokenFormat::Jwt, TokenFormat::Opaque] {
        let (presented, _) = token(&authority, format);
        let first = authority.verify(&presented).unwrap();
        let again = authority.verify(&presented).unwrap();
        assert!(Arc::ptr_eq(&first, &again), "the second use is a cache hit");

        clock.advance(time::Duration::seconds(token::EXPIRES_IN + 1)).unwrap();
        assert!(matches!(refusal(authority.verify(&presented)), TokenError::Expired(_)));
        clock
            .advance(time::Duration::seconds(-(token::EXPIRES_IN + 1)))
            .unwrap();
        assert!(authority.verify(&presented).is_ok());
        clock.advance(time::Duration::seconds(-60)).unwrap();
        assert!(matches!(
            refusal(authority.verify(&presented)),
            TokenError::NotYetValid { .. }
        ));
        clock.reset();
    }
}

#[test]
fn a_cached_token_is_refused_once_revoked_or_its_key_rotated() {
    let tmp = tempfile::tempdir().unwrap();
    let (authority, _clock) = authority(&tmp.path().join("s"));
    for format in [TokenFormat::Jwt, TokenFormat::Opaque] {
        let (presented, client_id) = token(&authority, format);
        authority.verify(&presented).unwrap();
        authority.revoke(&client_id, &presented).unwrap();
        assert_eq!(refusal(authority.verify(&presented)), TokenError::Revoked);

        let (other, _) = token(&authority, format);
        authority.verify(&other).unwrap();
        authority.rotate_signing_key().unwrap();
        assert_eq!(refusal(authority.verify(&other)), TokenError::UnknownKey);
    }
}
