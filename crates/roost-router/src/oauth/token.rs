//! The token endpoint (OAuth 2.1 §3.2): the `authorization_code` and `refresh_token` grants,
//! client authentication (`none`, `client_secret_basic`, `client_secret_post`), access tokens
//! minted with `roost-token`, and rotating refresh tokens.
//!
//! Access tokens: EdDSA JWTs, `aud` = the MCP URL, `sub` = the user, `tenant` = the user's
//! tenant id (its row is created here if the user has none, so the claim is right before the
//! machine exists), `scope`, `client_id`, lifetime `ROOST_ACCESS_TOKEN_TTL`. Each one's `jti`
//! is recorded with its family, so revoking the family revokes it too.
//! Refresh tokens: opaque, stored hashed, rotated on every use; see [`OAuthStore::use_refresh`]
//! for reuse detection and the grace window.
//!
//! [`OAuthStore::use_refresh`]: super::store::OAuthStore::use_refresh

use axum::Json;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use roost_token::AccessClaims;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;

use super::clients::Client;
use super::error::{OAuthError, server_error};
use super::metadata::TOKEN_PATH;
use super::store::{Redeemed, Refreshed, random_token};
use super::{ClientLookupError, OAuth, scope_covers};
use crate::db::now_ms;
use crate::server::AppState;

/// The token routes (and the 2025-03-26 fallback path `/token`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(TOKEN_PATH, post(token))
        .route("/token", post(token))
}

type Params = HashMap<String, String>;

async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let Ok(Form(pairs)) = form else {
        return not_a_form().into_response();
    };
    match handle(&state, &headers, pairs).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    pairs: Vec<(String, String)>,
) -> Result<Response, OAuthError> {
    let mut params = Params::new();
    for (k, v) in pairs {
        // RFC 6749 §3.2: request parameters MUST NOT be included more than once.
        if params.insert(k.clone(), v).is_some() {
            return Err(OAuthError::InvalidRequest(format!(
                "the {k} parameter is repeated"
            )));
        }
    }
    let client = authenticate(&state.oauth, headers, &params).await?;
    if let Some(resource) = params.get("resource")
        && resource != &state.settings.oauth.mcp_url
    {
        return Err(OAuthError::InvalidTarget(format!(
            "resource {resource} is not served here; this server's resource is {}",
            state.settings.oauth.mcp_url
        )));
    }
    match params.get("grant_type").map(String::as_str) {
        Some("authorization_code") => code_grant(state, &client, &params).await,
        Some("refresh_token") => refresh_grant(state, &client, &params).await,
        Some(other) => Err(OAuthError::UnsupportedGrantType(format!(
            "grant_type {other:?} is not supported; use authorization_code or refresh_token"
        ))),
        None => Err(OAuthError::InvalidRequest("grant_type is missing".into())),
    }
}

/// The answer to a body that is not `application/x-www-form-urlencoded` (RFC 6749 §3.2).
pub(crate) fn not_a_form() -> OAuthError {
    OAuthError::InvalidRequest(
        "send the parameters as an application/x-www-form-urlencoded body (RFC 6749 §3.2)".into(),
    )
}

/// Identifies and authenticates the client (RFC 6749 §2.3, OAuth 2.1 §2.4): HTTP Basic, or
/// `client_id` (+ `client_secret`) in the form. Confidential clients must present their secret.
pub(crate) async fn authenticate(
    oauth: &OAuth,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Client, OAuthError> {
    let basic = basic_credentials(headers)?;
    if basic.is_some() && params.contains_key("client_secret") {
        return Err(OAuthError::InvalidRequest(
            "use one client authentication method, not both Basic and client_secret".into(),
        ));
    }
    let (client_id, secret) = match basic {
        Some((id, secret)) => (id, Some(secret)),
        None => {
            let id = params.get("client_id").cloned().ok_or_else(|| {
                OAuthError::InvalidClient(
                    "client_id is missing: send it in the form, or authenticate with HTTP Basic"
                        .into(),
                )
            })?;
            (id, params.get("client_secret").cloned())
        }
    };
    if let Some(form_id) = params.get("client_id")
        && form_id != &client_id
    {
        return Err(OAuthError::InvalidClient(
            "client_id in the form differs from the authenticated client".into(),
        ));
    }
    let client = match oauth.client(&client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => {
            return Err(OAuthError::InvalidClient(format!(
                "client {client_id:?} is not registered here"
            )));
        }
        Err(ClientLookupError::Document(e)) => {
            return Err(OAuthError::InvalidClient(e.to_string()));
        }
        Err(ClientLookupError::Store(e)) => return Err(server_error("client lookup failed", &e)),
    };
    if client.is_confidential() {
        match secret {
            Some(secret) if client.secret_matches(&secret) => {}
            Some(_) => {
                return Err(OAuthError::InvalidClient(
                    "the client secret is wrong".into(),
                ));
            }
            None => {
                return Err(OAuthError::InvalidClient(
                    "this client must authenticate with its client secret".into(),
                ));
            }
        }
    }
    Ok(client)
}

/// `Authorization: Basic` credentials, form-urldecoded (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || {
        OAuthError::InvalidClient(
            "the Authorization header is not valid HTTP Basic client credentials".into(),
        )
    };
    let value = value.to_str().map_err(|_| bad())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(bad());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Ok(Some((
        unescape(id).ok_or_else(bad)?,
        unescape(secret).ok_or_else(bad)?,
    )))
}

/// Whether `verifier` hashes to `challenge` (RFC 7636 §4.6, S256 only).
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    subtle::ConstantTimeEq::ct_eq(computed.as_bytes(), challenge.as_bytes()).into()
}

fn valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

async fn code_grant(
    state: &AppState,
    client: &Client,
    params: &Params,
) -> Result<Response, OAuthError> {
    let oauth = &state.oauth;
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::InvalidRequest("code is missing".into()))?;
    let verifier = params.get("code_verifier").ok_or_else(|| {
        OAuthError::InvalidRequest(
            "code_verifier is missing: PKCE is required for every client".into(),
        )
    })?;
    let grant = match oauth
        .store()
        .redeem_code(code)
        .await
        .map_err(|e| server_error("redeeming a code failed", &e))?
    {
        Redeemed::Fresh(grant) => grant,
        Redeemed::Replayed => {
            tracing::warn!(client_id = %client.client_id, "an authorization code was used twice; revoked what it issued");
            return Err(OAuthError::InvalidGrant(
                "the authorization code was already used; every token issued from it has been revoked".into(),
            ));
        }
        Redeemed::Unknown => {
            return Err(OAuthError::InvalidGrant(
                "the authorization code is not valid".into(),
            ));
        }
    };
    // The code is spent from here on, whatever follows: one attempt per code.
    if grant.client_id != client.client_id {
        return Err(OAuthError::InvalidGrant(
            "the authorization code was issued to another client".into(),
        ));
    }
    if grant.expires_at < now_ms() {
        return Err(OAuthError::InvalidGrant(
            "the authorization code has expired; start the authorization again".into(),
        ));
    }
    if let Some(redirect_uri) = params.get("redirect_uri")
        && redirect_uri != &grant.redirect_uri
    {
        return Err(OAuthError::InvalidGrant(
            "redirect_uri differs from the one in the authorization request".into(),
        ));
    }
    if !valid_verifier(verifier) || !pkce_matches(verifier, &grant.code_challenge) {
        return Err(OAuthError::InvalidGrant(
            "code_verifier does not match the code_challenge".into(),
        ));
    }
    issue(
        state,
        client,
        &grant.user_id,
        &grant.scope,
        &grant.family_id,
    )
    .await
}

async fn refresh_grant(
    state: &AppState,
    client: &Client,
    params: &Params,
) -> Result<Response, OAuthError> {
    let oauth = &state.oauth;
    let token = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::InvalidRequest("refresh_token is missing".into()))?;
    let grace = oauth.settings().refresh_grace;
    let family = match oauth
        .store()
        .use_refresh(token, &client.client_id, grace)
        .await
        .map_err(|e| server_error("refreshing failed", &e))?
    {
        Refreshed::Rotate(family) => family,
        Refreshed::Reused => {
            tracing::warn!(client_id = %client.client_id, "a rotated refresh token was reused; revoked its family");
            return Err(OAuthError::InvalidGrant(
                "the refresh token was already used; for safety every token of this sign-in has been revoked — authorize again".into(),
            ));
        }
        Refreshed::Invalid => {
            return Err(OAuthError::InvalidGrant(
                "the refresh token is not valid, has expired or was revoked; authorize again"
                    .into(),
            ));
        }
    };
    // RFC 6749 §6: a refresh may narrow the scope, never widen it.
    let scope = match params.get("scope") {
        Some(asked) => {
            let asked = super::normalise_scope(Some(asked));
            if !scope_covers(&family.scope, &asked) {
                return Err(OAuthError::InvalidScope(format!(
                    "a refresh cannot add scopes; this grant has {:?}. Authorize again to ask for more",
                    family.scope
                )));
            }
            asked
        }
        None => family.scope.clone(),
    };
    issue(state, client, &family.user_id, &scope, &family.id).await
}

/// Mints an access token and a new refresh token of `family_id`.
async fn issue(
    state: &AppState,
    client: &Client,
    user_id: &str,
    scope: &str,
    family_id: &str,
) -> Result<Response, OAuthError> {
    let oauth = &state.oauth;
    let settings = oauth.settings();
    let key = oauth.signing_key().ok_or_else(|| {
        server_error(
            "cannot issue tokens",
            &"no ROOST_SIGNING_KEY is configured (this router only verifies)",
        )
    })?;
    let tenant = oauth
        .tenant_of(user_id)
        .await
        .map_err(|e| server_error("finding the user's tenant failed", &e))?;
    let now = chrono::Utc::now().timestamp();
    let ttl = i64::try_from(settings.access_token_ttl.as_secs()).unwrap_or(3600);
    let claims = AccessClaims {
        iss: settings.issuer.clone(),
        aud: settings.mcp_url.clone(),
        sub: user_id.to_owned(),
        tenant,
        scope: scope.to_owned(),
        client_id: client.client_id.clone(),
        iat: now,
        nbf: now,
        exp: now + ttl,
        jti: uuid::Uuid::new_v4().simple().to_string(),
    };
    let access_token = key
        .sign(&claims)
        .map_err(|e| server_error("signing an access token failed", &e))?;
    let store = oauth.store();
    store
        .record_access_token(&claims.jti, family_id, claims.exp)
        .await
        .map_err(|e| server_error("recording an access token failed", &e))?;
    let refresh_token = random_token();
    store
        .insert_refresh(&refresh_token, family_id, settings.refresh_token_ttl)
        .await
        .map_err(|e| server_error("storing a refresh token failed", &e))?;
    // Checked after the token's row exists: a family revoked concurrently (a replayed code)
    // either shows here, or its revocation finds the row (`OAuthStore::revoke_family`).
    if store
        .family_revoked(family_id)
        .await
        .map_err(|e| server_error("checking a grant failed", &e))?
    {
        return Err(OAuthError::InvalidGrant(
            "this sign-in was revoked while its tokens were being issued; authorize again".into(),
        ));
    }
    tracing::info!(client_id = %client.client_id, user = %user_id, tenant = %claims.tenant, scope, "issued tokens");
    let mut response = Json(serde_json::json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ttl,
        "refresh_token": refresh_token,
        "scope": scope,
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_the_rfc_7636_example() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(pkce_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            "wrong",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(valid_verifier(verifier) && !valid_verifier("short"));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut h = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode("my%20client:p%3Ass");
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {encoded}").parse().unwrap(),
        );
        assert_eq!(
            basic_credentials(&h).unwrap(),
            Some(("my client".into(), "p:ss".into()))
        );
        h.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert!(basic_credentials(&h).is_err());
    }
}
