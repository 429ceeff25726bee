use roost_token::SigningKey;

use super::*;

const ISSUER: &str = "https://mcp.example.com";
const AUDIENCE: &str = "https://mcp.example.com/mcp";

fn claims(offset_nbf: i64, lifetime: i64) -> AccessClaims {
    let now = unix_now();
    AccessClaims {
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        sub: "alice".into(),
        tenant: "roost-u-abc".into(),
        scope: "roost:workspace".into(),
        client_id: "client".into(),
        iat: now,
        nbf: now + offset_nbf,
        exp: now + offset_nbf + lifetime,
        jti: uuid::Uuid::new_v4().to_string(),
    }
}

fn gate(key: &SigningKey) -> TokenGate {
    let mut verifier = Verifier::new(ISSUER, AUDIENCE);
    verifier.add_jwk(&key.public_jwk()).unwrap();
    TokenGate::new(verifier, 100, RevokedTokens::new(), HotPathMetrics::new())
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn headers(authorization: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, authorization.parse().unwrap());
    headers
}

#[test]
fn a_valid_token_yields_its_claims_and_is_remembered() {
    let key = SigningKey::generate();
    let gate = gate(&key);
    let token = key.sign(&claims(0, 600)).unwrap();
    let first = gate.check(&headers(&format!("Bearer {token}"))).unwrap();
    assert_eq!(first.sub, "alice");
    assert!(gate.cache.contains_key(&digest(&token)));
    let again = gate.check_token(&token).unwrap();
    assert!(
        Arc::ptr_eq(&first, &again),
        "the second check is served from the cache"
    );
}

#[test]
fn a_token_revoked_after_its_verdict_was_cached_is_refused() {
    let key = SigningKey::generate();
    let gate = gate(&key);
    let issued = claims(0, 600);
    let token = key.sign(&issued).unwrap();
    assert!(gate.check_token(&token).is_ok());
    gate.revoked.revoke(&issued.jti, issued.exp);
    assert_eq!(gate.check_token(&token), Err(AuthError::Revoked));
    // Another token of the same user is unaffected.
    let other = key.sign(&claims(0, 600)).unwrap();
    assert!(gate.check_token(&other).is_ok());
}

#[test]
fn refused_tokens_say_why_and_not_yet_valid_ones_are_not_remembered() {
    let key = SigningKey::generate();
    let gate = gate(&key);
    let stranger = SigningKey::generate().sign(&claims(0, 600)).unwrap();
    assert!(matches!(
        gate.check_token(&stranger),
        Err(AuthError::Invalid(VerifyError::UnknownKey(_)))
    ));
    assert!(
        gate.cache.contains_key(&digest(&stranger)),
        "a refusal is remembered"
    );

    let early = key.sign(&claims(3600, 600)).unwrap();
    assert_eq!(
        gate.check_token(&early),
        Err(AuthError::Invalid(VerifyError::NotYetValid))
    );
    assert!(
        !gate.cache.contains_key(&digest(&early)),
        "it will become valid by itself"
    );

    let mut tampered = key.sign(&claims(0, 600)).unwrap();
    tampered.pop();
    assert!(gate.check_token(&tampered).is_err());
}

#[test]
fn a_remembered_verdict_never_outlives_its_token() {
    let key = SigningKey::generate();
    let gate = gate(&key);
    // A token the verifier refuses, but with a remembered "valid" verdict whose `exp` has
    // passed (moka evicts lazily): the gate must re-verify rather than trust the entry.
    let token = SigningKey::generate().sign(&claims(0, 600)).unwrap();
    gate.cache
        .insert(digest(&token), Ok(Arc::new(claims(-700, 600))));
    assert!(matches!(
        gate.check_token(&token),
        Err(AuthError::Invalid(VerifyError::UnknownKey(_)))
    ));
}

#[test]
fn bearer_tokens_are_read_case_insensitively_and_other_schemes_ignored() {
    assert_eq!(bearer_token(&headers("Bearer abc")), Some("abc"));
    assert_eq!(bearer_token(&headers("bearer abc")), Some("abc"));
    assert_eq!(bearer_token(&headers("BEARER  abc ")), Some("abc"));
    assert_eq!(bearer_token(&headers("Basic abc")), None);
    assert_eq!(bearer_token(&headers("Bearer ")), None);
    assert_eq!(bearer_token(&HeaderMap::new()), None);
}

#[test]
fn the_challenge_points_at_the_resource_metadata() {
    let plain = challenge(
        "https://r/.well-known/oauth-protected-resource/mcp",
        "roost:workspace",
        None,
    );
    assert_eq!(
        plain,
        r#"Bearer resource_metadata="https://r/.well-known/oauth-protected-resource/mcp", scope="roost:workspace""#
    );
    let invalid = challenge(
        "https://r/m",
        "s",
        Some(("invalid_token", "The access token has expired.")),
    );
    assert!(invalid.to_str().unwrap().ends_with(
        r#", error="invalid_token", error_description="The access token has expired.""#
    ));
}
