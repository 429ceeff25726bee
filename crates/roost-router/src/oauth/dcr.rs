//! Dynamic Client Registration (RFC 7591), deprecated by MCP 2026-07-28 but still what most
//! clients use. Registration is open (anyone may register; what protects users is consent), so
//! it is rate-limited per client IP, and registered metadata obeys the redirect-URI rules of
//! [`super::clients`].
//!
//! `token_endpoint_auth_method`: `none` gives a public client; `client_secret_basic` (the
//! RFC 7591 default when absent) or `client_secret_post` gives a confidential client whose
//! secret is returned once and stored only as a SHA-256 digest.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::clients::{
    Client, ClientError, ClientKind, check_redirect_uris, infer_application_type,
};
use super::error::{OAuthError, server_error};
use super::metadata::REGISTER_PATH;
use super::store::random_token;
use crate::server::AppState;

/// The registration routes (and the 2025-03-26 fallback path `/register`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(REGISTER_PATH, post(register))
        .route("/register", post(register))
}

/// The metadata fields roost reads; others are ignored (RFC 7591 §2).
#[derive(Debug, Deserialize)]
struct Request {
    #[serde(default)]
    redirect_uris: Vec<String>,
    client_name: Option<String>,
    client_uri: Option<String>,
    logo_uri: Option<String>,
    application_type: Option<String>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
}

async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    match handle(&state, &headers, &body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, OAuthError> {
    let oauth = &state.oauth;
    if !oauth.settings().dcr {
        return Err(OAuthError::NotAvailable(
            "Dynamic Client Registration is turned off on this server; use a pre-registered client id or a \
             client metadata document URL"
                .into(),
        ));
    }
    let ip = client_ip(headers, &oauth.settings().client_ip_header);
    if !oauth.dcr_allowed(ip.clone()) {
        tracing::warn!(ip = %ip, "client registration rate limit hit");
        return Err(OAuthError::TooManyRequests);
    }
    let request: Request = serde_json::from_slice(body).map_err(|e| {
        OAuthError::InvalidClientMetadata(format!("the body is not JSON client metadata: {e}"))
    })?;
    let client = validate(request)?;
    let (client, secret) = client;
    oauth
        .store()
        .insert_client(&client)
        .await
        .map_err(|e| server_error("storing a registered client failed", &e))?;
    tracing::info!(client_id = %client.client_id, name = ?client.client_name, kind = %client.application_type, "registered a client");

    let mut answer = serde_json::json!({
        "client_id": client.client_id,
        "client_id_issued_at": chrono::Utc::now().timestamp(),
        "redirect_uris": client.redirect_uris,
        "application_type": client.application_type,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": secret.as_ref().map_or("none", |(_, method)| *method),
    });
    if let Some(name) = &client.client_name {
        answer["client_name"] = name.clone().into();
    }
    if let Some((secret, _)) = secret {
        answer["client_secret"] = secret.into();
        answer["client_secret_expires_at"] = 0.into();
    }
    let mut response = (StatusCode::CREATED, Json(answer)).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

type Registered = (Client, Option<(String, &'static str)>);

fn validate(request: Request) -> Result<Registered, OAuthError> {
    let metadata_error = |e: ClientError| match e {
        ClientError::RedirectUri { .. } | ClientError::NoRedirectUris => {
            OAuthError::InvalidRedirectUri(e.to_string())
        }
        other => OAuthError::InvalidClientMetadata(other.to_string()),
    };
    let application_type =
        infer_application_type(request.application_type.as_deref(), &request.redirect_uris)
            .map_err(metadata_error)?;
    check_redirect_uris(&request.redirect_uris, &application_type).map_err(metadata_error)?;
    if let Some(grants) = &request.grant_types
        && let Some(bad) = grants
            .iter()
            .find(|g| *g != "authorization_code" && *g != "refresh_token")
    {
        return Err(OAuthError::InvalidClientMetadata(format!(
            "grant type {bad:?} is not supported; use authorization_code and refresh_token"
        )));
    }
    if let Some(types) = &request.response_types
        && types.iter().any(|t| t != "code")
    {
        return Err(OAuthError::InvalidClientMetadata(
            "only response type \"code\" is supported".into(),
        ));
    }
    let method: Option<&'static str> = match request.token_endpoint_auth_method.as_deref() {
        Some("none") => None,
        None | Some("client_secret_basic") => Some("client_secret_basic"),
        Some("client_secret_post") => Some("client_secret_post"),
        Some(other) => {
            return Err(OAuthError::InvalidClientMetadata(format!(
                "token_endpoint_auth_method {other:?} is not supported; use none, client_secret_basic or client_secret_post"
            )));
        }
    };
    let secret = method.map(|m| (random_token(), m));
    let name = request
        .client_name
        .map(|n| n.trim().chars().take(100).collect::<String>())
        .filter(|n| !n.is_empty());
    let client = Client {
        client_id: format!("roost-{}", uuid::Uuid::new_v4().simple()),
        client_name: name,
        client_uri: request.client_uri.filter(|u| u.starts_with("https://")),
        logo_uri: request.logo_uri.filter(|u| u.starts_with("https://")),
        redirect_uris: request.redirect_uris,
        application_type,
        secret_sha256: secret
            .as_ref()
            .map(|(s, _)| hex::encode(Sha256::digest(s.as_bytes()))),
        trusted: false,
        kind: ClientKind::Registered,
    };
    Ok((client, secret))
}

/// The client's IP for rate limiting: the configured proxy header, else one shared bucket
/// (the router always runs behind a proxy that sets it; without one, limiting everybody
/// together is the safe side).
pub(crate) fn client_ip(headers: &HeaderMap, header_name: &str) -> String {
    headers
        .get(header_name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').next().unwrap_or(v).trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> Request {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn public_native_clients_get_no_secret() {
        let (client, secret) = validate(request(
            r#"{"redirect_uris":["http://127.0.0.1:3000/cb"],"token_endpoint_auth_method":"none","client_name":"Inspector"}"#,
        ))
        .unwrap();
        assert!(secret.is_none() && !client.is_confidential());
        assert_eq!(client.application_type, "native");
    }

    #[test]
    fn the_rfc_7591_default_is_a_confidential_client() {
        let (client, secret) =
            validate(request(r#"{"redirect_uris":["https://app.example/cb"]}"#)).unwrap();
        let (secret, method) = secret.unwrap();
        assert_eq!(method, "client_secret_basic");
        assert!(client.secret_matches(&secret));
    }

    #[test]
    fn bad_metadata_is_refused_with_the_rfc_7591_codes() {
        let e = validate(request(r#"{"redirect_uris":["http://evil.example/cb"]}"#)).unwrap_err();
        assert!(matches!(e, OAuthError::InvalidRedirectUri(_)), "{e}");
        let e = validate(request(r#"{"redirect_uris":[]}"#)).unwrap_err();
        assert!(matches!(e, OAuthError::InvalidRedirectUri(_)), "{e}");
        let e = validate(request(
            r#"{"redirect_uris":["https://a.example/cb"],"grant_types":["implicit"]}"#,
        ))
        .unwrap_err();
        assert!(matches!(e, OAuthError::InvalidClientMetadata(_)), "{e}");
        let e = validate(request(
            r#"{"redirect_uris":["https://a.example/cb"],"application_type":"desktop"}"#,
        ))
        .unwrap_err();
        assert!(matches!(e, OAuthError::InvalidClientMetadata(_)), "{e}");
    }
}
