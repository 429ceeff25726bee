//! Sign-in through any OpenID Connect provider found by discovery (`<issuer>/.well-known/
//! openid-configuration`), with the `openidconnect` crate doing state, nonce, PKCE (S256) and
//! ID-token validation (signature, issuer, audience, expiry, nonce).
//!
//! Discovery happens on first use and is cached, so the router starts even when a provider is
//! down; a failed discovery is retried on the next sign-in.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse as _,
};
use tokio::sync::OnceCell;

use super::SignInError;
use super::users::Identity;
use crate::oauth::config::{OidcProviderConfig, ResolvedSecret};

/// One configured OpenID Connect provider.
pub struct OidcProvider {
    config: OidcProviderConfig,
    secret: ResolvedSecret,
    metadata: OnceCell<CoreProviderMetadata>,
    http: reqwest::Client,
}

/// What the callback needs, stored server-side under the state.
#[derive(Debug, Clone)]
pub struct Started {
    /// Where to send the browser.
    pub url: String,
    /// The `state` (CSRF token).
    pub state: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier.
    pub pkce_verifier: String,
}

impl OidcProvider {
    /// A provider from config; `http` must not follow redirects.
    pub fn new(config: OidcProviderConfig, secret: ResolvedSecret, http: reqwest::Client) -> Self {
        OidcProvider {
            config,
            secret,
            metadata: OnceCell::new(),
            http,
        }
    }

    /// The id used in URLs.
    pub fn id(&self) -> &str {
        &self.config.id
    }

    /// The name on the button.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The `identities.provider` value.
    pub fn provider_key(&self) -> String {
        format!("oidc:{}", self.config.id)
    }

    async fn client(&self, redirect_url: &str) -> Result<ConfiguredClient, SignInError> {
        let http = self.http.clone();
        let metadata = self
            .metadata
            .get_or_try_init(|| async {
                let issuer =
                    IssuerUrl::new(self.config.issuer.clone()).map_err(|e| self.upstream(e))?;
                CoreProviderMetadata::discover_async(issuer, &move |r| send(http.clone(), r))
                    .await
                    .map_err(|e| self.upstream(e))
            })
            .await?
            .clone();
        let redirect = RedirectUrl::new(redirect_url.to_owned()).map_err(|e| self.upstream(e))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.secret.0.clone())),
        )
        .set_redirect_uri(redirect))
    }

    fn upstream(&self, e: impl std::fmt::Display) -> SignInError {
        SignInError::Upstream {
            provider: self.config.name.clone(),
            why: e.to_string(),
        }
    }

    /// Begins a sign-in: the provider's authorization URL and what the callback must check.
    pub async fn start(&self, redirect_url: &str) -> Result<Started, SignInError> {
        let client = self.client(redirect_url).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        let scopes = self
            .config
            .scopes
            .clone()
            .unwrap_or_else(|| vec!["email".into(), "profile".into()]);
        for scope in scopes {
            request = request.add_scope(Scope::new(scope));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok(Started {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Completes a sign-in: exchanges the code and validates the ID token.
    pub async fn finish(
        &self,
        redirect_url: &str,
        code: &str,
        nonce: &str,
        pkce_verifier: &str,
    ) -> Result<Identity, SignInError> {
        let client = self.client(redirect_url).await?;
        let http = self.http.clone();
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| self.upstream(e))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&move |r| send(http.clone(), r))
            .await
            .map_err(|e| self.upstream(e))?;
        let id_token = response
            .id_token()
            .ok_or_else(|| self.upstream("the token response has no ID token"))?;
        let claims = id_token
            .claims(&client.id_token_verifier(), &Nonce::new(nonce.to_owned()))
            .map_err(|e| self.upstream(e))?;
        Ok(Identity {
            provider: self.provider_key(),
            subject: claims.subject().as_str().to_owned(),
            email: claims.email().map(|e| e.as_str().to_owned()),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned()),
        })
    }
}

type ConfiguredClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// openidconnect's HTTP calls, made with the router's reqwest (rustls, no redirects).
async fn send(
    http: reqwest::Client,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let mut builder = http.request(parts.method, parts.uri.to_string()).body(body);
    for (name, value) in &parts.headers {
        builder = builder.header(name, value);
    }
    let response = builder.send().await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?.to_vec();
    let mut out = axum::http::Response::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}
