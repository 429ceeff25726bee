//! What a verifier must accept and, above all, what it must refuse: each attack its own test.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::json;

use crate::{
    AccessClaims, JwkSet, SigningKey, Verifier, VerifyError,
    testing::{AUDIENCE, ISSUER, NOW, TTL, claims, dalek, forge, header, verifier},
};

/// A key, a verifier trusting it, and a valid token for [`claims`].
fn setup() -> (SigningKey, Verifier, String) {
    let key = SigningKey::generate();
    let verifier = verifier(&[&key]);
    let token = key.sign(&claims()).unwrap();
    (key, verifier, token)
}

fn claims_json() -> serde_json::Value {
    serde_json::to_value(claims()).unwrap()
}

#[test]
fn signed_token_round_trips() {
    let (_, verifier, token) = setup();
    assert_eq!(verifier.verify_at(&token, NOW), Ok(claims()));
}

#[test]
fn verify_uses_the_system_clock() {
    let key = SigningKey::generate();
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let fresh = AccessClaims {
        iat: now,
        nbf: now,
        exp: now + TTL,
        ..claims()
    };
    let verifier = verifier(&[&key]);
    assert_eq!(verifier.verify(&key.sign(&fresh).unwrap()), Ok(fresh));
    let long_expired = AccessClaims {
        iat: now - 2 * TTL,
        nbf: now - 2 * TTL,
        exp: now - TTL,
        ..claims()
    };
    assert_eq!(
        verifier.verify(&key.sign(&long_expired).unwrap()),
        Err(VerifyError::Expired)
    );
}

#[test]
fn header_is_eddsa_at_jwt_with_kid() {
    let (key, _, token) = setup();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.kid.as_deref(), Some(key.kid()));
}

#[test]
fn tokens_interoperate_with_an_independent_jwt_library() {
    let (key, verifier, token) = setup();
    let jwk = key.public_jwk();

    // Ours, verified by jsonwebtoken.
    let decoding = jsonwebtoken::DecodingKey::from_ed_components(&jwk.x).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&[AUDIENCE]);
    validation.set_issuer(&[ISSUER]);
    validation.validate_exp = false;
    let theirs = jsonwebtoken::decode::<AccessClaims>(&token, &decoding, &validation).unwrap();
    assert_eq!(theirs.claims, claims());

    // jsonwebtoken's, verified by ours.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.typ = Some("at+jwt".into());
    header.kid = Some(key.kid().into());
    let encoding = jsonwebtoken::EncodingKey::from_ed_pem(key.to_pkcs8_pem().as_bytes()).unwrap();
    let foreign = jsonwebtoken::encode(&header, &claims(), &encoding).unwrap();
    assert_eq!(verifier.verify_at(&foreign, NOW), Ok(claims()));
}

#[test]
fn refuses_alg_none() {
    let (key, verifier, _) = setup();
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD
            .encode(json!({"alg": "none", "typ": "at+jwt", "kid": key.kid()}).to_string()),
        URL_SAFE_NO_PAD.encode(claims_json().to_string()),
    );
    assert_eq!(
        verifier.verify_at(&unsigned, NOW),
        Err(VerifyError::UnsupportedAlgorithm("none".into()))
    );
}

#[test]
fn refuses_hs256_signed_with_the_public_key() {
    let (key, verifier, _) = setup();
    let jwk = key.public_jwk();
    let raw_public = URL_SAFE_NO_PAD.decode(&jwk.x).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(key.kid().into());
    // The classic key-confusion attack: use the published key as the HMAC secret, in every
    // encoding a confused verifier might feed its HMAC.
    for secret in [raw_public.as_slice(), jwk.x.as_bytes()] {
        let forged = jsonwebtoken::encode(
            &header,
            &claims(),
            &jsonwebtoken::EncodingKey::from_secret(secret),
        )
        .unwrap();
        assert_eq!(
            verifier.verify_at(&forged, NOW),
            Err(VerifyError::UnsupportedAlgorithm("HS256".into()))
        );
    }
}

#[test]
fn refuses_rs256_header() {
    let (key, verifier, token) = setup();
    let signature = token.rsplit('.').next().unwrap();
    let forged = format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD
            .encode(json!({"alg": "RS256", "typ": "at+jwt", "kid": key.kid()}).to_string()),
        URL_SAFE_NO_PAD.encode(claims_json().to_string()),
    );
    assert_eq!(
        verifier.verify_at(&forged, NOW),
        Err(VerifyError::UnsupportedAlgorithm("RS256".into()))
    );
}

#[test]
fn refuses_unknown_kid() {
    let (_, verifier, _) = setup();
    let stranger = SigningKey::generate();
    let token = stranger.sign(&claims()).unwrap();
    assert_eq!(
        verifier.verify_at(&token, NOW),
        Err(VerifyError::UnknownKey(stranger.kid().into()))
    );
}

#[test]
fn refuses_missing_kid() {
    let (key, verifier, _) = setup();
    let token = forge(
        &json!({"alg": "EdDSA", "typ": "at+jwt"}),
        &claims_json(),
        &dalek(&key),
    );
    assert_eq!(
        verifier.verify_at(&token, NOW),
        Err(VerifyError::MissingKeyId)
    );
}

#[test]
fn refuses_signature_from_another_key_claiming_a_trusted_kid() {
    let (key, verifier, _) = setup();
    let impostor = SigningKey::generate();
    let token = forge(&header(key.kid()), &claims_json(), &dalek(&impostor));
    assert_eq!(
        verifier.verify_at(&token, NOW),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn refuses_tampered_payload() {
    let (_, verifier, token) = setup();
    let [head, _, signature] = token.split('.').collect::<Vec<_>>()[..] else {
        panic!("three parts");
    };
    let mut payload = claims_json();
    payload["tenant"] = json!("roost-u-someone-else");
    let tampered = format!(
        "{head}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    assert_eq!(
        verifier.verify_at(&tampered, NOW),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn refuses_re_encoded_signature() {
    // 64 bytes need 86 base64url characters with 4 spare bits; setting them gives a different
    // string for the same bytes. Refusing it keeps one token = one digest for the router's cache.
    let (_, verifier, token) = setup();
    let last = token.chars().last().unwrap();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let value = alphabet.iter().position(|&c| c == last as u8).unwrap();
    let sibling = alphabet[value ^ 0b0001] as char;
    let re_encoded = format!("{}{sibling}", &token[..token.len() - 1]);
    assert_eq!(
        verifier.verify_at(&re_encoded, NOW),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn refuses_expired_token() {
    let (_, verifier, token) = setup();
    let leeway = 30;
    assert_eq!(
        verifier.verify_at(&token, NOW + TTL + leeway),
        Err(VerifyError::Expired)
    );
    assert_eq!(
        verifier
            .with_leeway(std::time::Duration::ZERO)
            .verify_at(&token, NOW + TTL),
        Err(VerifyError::Expired)
    );
}

#[test]
fn refuses_token_not_yet_valid() {
    let (_, verifier, token) = setup();
    assert_eq!(
        verifier.verify_at(&token, NOW - 31),
        Err(VerifyError::NotYetValid)
    );
}

#[test]
fn accepts_clock_skew_within_leeway() {
    let (_, verifier, token) = setup();
    assert!(verifier.verify_at(&token, NOW + TTL + 29).is_ok());
    assert!(verifier.verify_at(&token, NOW - 30).is_ok());
    let strict = verifier.with_leeway(std::time::Duration::from_secs(5));
    assert!(strict.verify_at(&token, NOW + TTL + 4).is_ok());
    assert_eq!(
        strict.verify_at(&token, NOW + TTL + 5),
        Err(VerifyError::Expired)
    );
    assert_eq!(
        strict.verify_at(&token, NOW - 6),
        Err(VerifyError::NotYetValid)
    );
}

#[test]
fn refuses_wrong_audience() {
    let (key, _, token) = setup();
    let elsewhere = Verifier::new(ISSUER, "https://other.example.com/mcp");
    let mut elsewhere = elsewhere;
    elsewhere.add_jwk(&key.public_jwk()).unwrap();
    assert_eq!(
        elsewhere.verify_at(&token, NOW),
        Err(VerifyError::WrongAudience)
    );
}

#[test]
fn accepts_audience_array_that_contains_ours() {
    let (key, verifier, _) = setup();
    let mut payload = claims_json();
    payload["aud"] = json!(["https://other.example.com", AUDIENCE]);
    let token = forge(&header(key.kid()), &payload, &dalek(&key));
    assert_eq!(verifier.verify_at(&token, NOW), Ok(claims()));

    payload["aud"] = json!(["https://other.example.com"]);
    let token = forge(&header(key.kid()), &payload, &dalek(&key));
    assert_eq!(
        verifier.verify_at(&token, NOW),
        Err(VerifyError::WrongAudience)
    );
}

#[test]
fn refuses_wrong_issuer() {
    let (key, _, token) = setup();
    let mut elsewhere = Verifier::new("https://evil.example.com", AUDIENCE);
    elsewhere.add_jwk(&key.public_jwk()).unwrap();
    assert_eq!(
        elsewhere.verify_at(&token, NOW),
        Err(VerifyError::WrongIssuer)
    );
}

#[test]
fn refuses_missing_or_empty_claims() {
    let (key, verifier, _) = setup();
    let mut payload = claims_json();
    payload.as_object_mut().unwrap().remove("tenant");
    let token = forge(&header(key.kid()), &payload, &dalek(&key));
    let Err(VerifyError::InvalidClaims(why)) = verifier.verify_at(&token, NOW) else {
        panic!("a token without `tenant` was accepted");
    };
    assert!(why.contains("tenant"), "{why}");

    let mut payload = claims_json();
    payload["sub"] = json!("");
    let token = forge(&header(key.kid()), &payload, &dalek(&key));
    assert!(matches!(
        verifier.verify_at(&token, NOW),
        Err(VerifyError::InvalidClaims(why)) if why.contains("`sub`")
    ));

    let mut payload = claims_json();
    payload["exp"] = json!("tomorrow");
    let token = forge(&header(key.kid()), &payload, &dalek(&key));
    assert!(matches!(
        verifier.verify_at(&token, NOW),
        Err(VerifyError::InvalidClaims(_))
    ));
}

#[test]
fn refuses_other_token_types() {
    let (key, verifier, _) = setup();
    for typ in [json!("JWT"), json!(null), json!("id_token+jwt")] {
        let token = forge(
            &json!({"alg": "EdDSA", "typ": typ, "kid": key.kid()}),
            &claims_json(),
            &dalek(&key),
        );
        assert!(
            matches!(verifier.verify_at(&token, NOW), Err(VerifyError::Malformed(why)) if why.contains("typ")),
            "typ {typ} accepted"
        );
    }
    let media_type = forge(
        &json!({"alg": "EdDSA", "typ": "application/AT+JWT", "kid": key.kid()}),
        &claims_json(),
        &dalek(&key),
    );
    assert_eq!(verifier.verify_at(&media_type, NOW), Ok(claims()));
}

#[test]
fn refuses_critical_header_extensions() {
    let (key, verifier, _) = setup();
    let token = forge(
        &json!({"alg": "EdDSA", "typ": "at+jwt", "kid": key.kid(), "crit": ["b64"], "b64": false}),
        &claims_json(),
        &dalek(&key),
    );
    assert!(matches!(
        verifier.verify_at(&token, NOW),
        Err(VerifyError::Malformed(why)) if why.contains("crit")
    ));
}

#[test]
fn refuses_truncated_and_garbage_tokens() {
    let (_, verifier, token) = setup();
    let dots: Vec<usize> = token.match_indices('.').map(|(i, _)| i).collect();
    let huge = "a".repeat(10_000);
    let cases = [
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        "not a token".into(),
        "Bearer x.y.z".into(),
        token[..dots[0]].into(),
        token[..dots[1]].into(),
        token[..dots[1] + 1].into(),
        token[..token.len() - 1].into(),
        token[..token.len() / 2].into(),
        format!("{token}."),
        format!("{token}.extra"),
        format!("{token}="),
        token.replacen('.', "!", 1),
        // Standard base64's '+' is not in the URL-safe alphabet. Replacing
        // whatever is there keeps the case bad even when the random signature
        // happens to contain no '-' or '_' to swap.
        format!("{}+{}", &token[..dots[1] + 1], &token[dots[1] + 2..]),
        format!("e30.{}", &token[dots[0] + 1..]),
        format!("W10.{}", &token[dots[0] + 1..]),
        huge.clone(),
        format!("{huge}.{huge}.{huge}"),
    ];
    for case in cases {
        let result = verifier.verify_at(&case, NOW);
        assert!(
            matches!(
                result,
                Err(VerifyError::Malformed(_) | VerifyError::BadSignature)
            ),
            "{case:?} gave {result:?}"
        );
    }
}

#[test]
fn rotation_accepts_old_and_new_keys_until_the_old_is_removed() {
    let old = SigningKey::generate();
    let new = SigningKey::generate();
    let mut verifier = Verifier::new(ISSUER, AUDIENCE);
    verifier
        .add_jwks(&JwkSet::from_keys([old.public_jwk(), new.public_jwk()]))
        .unwrap();
    assert_eq!(verifier.key_ids(), [old.kid(), new.kid()]);
    let old_token = old.sign(&claims()).unwrap();
    let new_token = new.sign(&claims()).unwrap();
    assert!(verifier.verify_at(&old_token, NOW).is_ok());
    assert!(verifier.verify_at(&new_token, NOW).is_ok());

    assert!(verifier.remove_key(old.kid()));
    assert!(!verifier.remove_key(old.kid()));
    assert_eq!(
        verifier.verify_at(&old_token, NOW),
        Err(VerifyError::UnknownKey(old.kid().into()))
    );
    assert!(verifier.verify_at(&new_token, NOW).is_ok());

    // A verifier built from the published set after retirement behaves the same.
    let mut rebuilt = Verifier::new(ISSUER, AUDIENCE);
    rebuilt
        .add_jwks(&JwkSet::from_keys([new.public_jwk()]))
        .unwrap();
    assert!(rebuilt.verify_at(&old_token, NOW).is_err());
    assert!(rebuilt.verify_at(&new_token, NOW).is_ok());
}

#[test]
fn clones_are_independent_after_a_change() {
    let (key, verifier, token) = setup();
    let mut trimmed = verifier.clone();
    trimmed.remove_key(key.kid());
    assert!(trimmed.verify_at(&token, NOW).is_err());
    assert!(verifier.verify_at(&token, NOW).is_ok());
}

#[test]
fn refuses_non_ed25519_jwk_and_adds_nothing_from_a_bad_set() {
    let key = SigningKey::generate();
    let mut verifier = Verifier::new(ISSUER, AUDIENCE);
    let rsa: crate::Jwk =
        serde_json::from_value(json!({"kty": "RSA", "kid": "rsa-1", "n": "AQAB", "e": "AQAB"}))
            .unwrap();
    let err = verifier.add_jwk(&rsa).unwrap_err().to_string();
    assert!(err.contains("rsa-1") && err.contains("Ed25519"), "{err}");
    assert!(
        verifier
            .add_jwks(&JwkSet::from_keys([key.public_jwk(), rsa]))
            .is_err()
    );
    assert!(verifier.key_ids().is_empty());
}

#[test]
fn error_descriptions_for_clients_carry_no_token_data() {
    let attacker_kid = "<script>".repeat(40);
    let (_, verifier, _) = setup();
    let token = forge(
        &header(&attacker_kid),
        &claims_json(),
        &dalek(&SigningKey::generate()),
    );
    let err = verifier.verify_at(&token, NOW).unwrap_err();
    assert_eq!(
        err.description(),
        "The access token was signed by an unknown key."
    );
    // The detail (for logs) names the kid, but cut short.
    let detail = err.to_string();
    assert!(
        detail.contains("<script>") && detail.len() < 120,
        "{detail}"
    );
    for (err, detail) in [
        (
            VerifyError::Malformed("the header is secret-ish".into()),
            "secret-ish",
        ),
        (VerifyError::UnsupportedAlgorithm("HS256".into()), "HS256"),
        (
            VerifyError::InvalidClaims("missing field `tenant`".into()),
            "tenant",
        ),
    ] {
        assert!(err.to_string().contains(detail));
        assert!(!err.description().contains(detail), "{}", err.description());
    }
}
