//! Signing `roost connect` in: the MCP authorization flow for a native app, on top of rmcp's
//! client-side OAuth (`AuthorizationManager`), which does the spec work — protected-resource
//! and authorization-server discovery with issuer checks, client registration (pre-registered,
//! Client ID Metadata Document, or Dynamic Client Registration with `application_type:
//! native`), PKCE S256, the RFC 8707 `resource`, the RFC 9207 `iss` check, scope selection and
//! refresh. This module adds what rmcp leaves to the application: where tokens are kept
//! ([`CredentialFile`]), the browser and the loopback redirect ([`super::callback`]), and one
//! sign-in at a time when several requests hit a 401 together.

use std::time::Duration;

use rmcp_client::transport::auth::{
    AuthError, AuthorizationManager, AuthorizationRequest, AuthorizationSession,
};
use tokio::sync::Mutex;
use url::Url;

use super::callback::{CallbackError, Redirect, open_browser};
use super::store::CredentialFile;

/// The name the client registers under; the consent page shows it.
const CLIENT_NAME: &str = "roost connect";

/// Why there is no usable token.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The OAuth exchange with the server failed.
    #[error("signing in to {url} failed: {source}")]
    OAuth {
        /// The MCP URL.
        url: Url,
        /// rmcp's description (boxed: rmcp's error is large).
        source: Box<AuthError>,
    },
    /// The browser part did not complete.
    #[error(transparent)]
    Browser(#[from] CallbackError),
}

/// How to sign in. (`Debug` by hand: it never shows the client secret.)
#[derive(Clone)]
pub struct SignInOptions {
    /// A pre-registered client id (skips registration).
    pub client_id: Option<String>,
    /// Its secret, for confidential clients.
    pub client_secret: Option<String>,
    /// A Client ID Metadata Document URL.
    pub client_metadata_url: Option<String>,
    /// Open the browser (else only print the URL).
    pub open_browser: bool,
    /// How long to wait for the browser.
    pub timeout: Duration,
}

impl std::fmt::Debug for SignInOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInOptions")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &super::redacted(self.client_secret.as_ref()),
            )
            .field("client_metadata_url", &self.client_metadata_url)
            .field("open_browser", &self.open_browser)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Tokens for one MCP URL: loaded from the credential file, refreshed before they expire, and
/// obtained by signing in when there are none or the server refuses them.
pub struct Authorizer {
    url: Url,
    store: CredentialFile,
    options: SignInOptions,
    /// `None` only while a sign-in holds the manager (rmcp moves it into the session).
    manager: Mutex<Option<AuthorizationManager>>,
}

impl Authorizer {
    /// An authorizer for `url` keeping tokens in `store`. Nothing happens until a token is needed.
    pub fn new(url: Url, store: CredentialFile, options: SignInOptions) -> Self {
        Self {
            url,
            store,
            options,
            manager: Mutex::new(None),
        }
    }

    /// The current access token, refreshed if it is about to expire; `None` before the first
    /// sign-in (the request then goes out without one and the 401 starts the sign-in).
    pub async fn token(&self) -> Result<Option<String>, SignInError> {
        let mut guard = self.manager.lock().await;
        let manager = self.manager(&mut guard).await?;
        match manager.get_access_token().await {
            Ok(token) => Ok(Some(token)),
            Err(AuthError::AuthorizationRequired) => Ok(None),
            Err(source) => Err(self.failed(source)),
        }
    }

    /// The server refused `failed_token` with `challenge` (its `WWW-Authenticate`): refresh the
    /// token, or sign in again in the browser. When another request already did so while this
    /// one waited, its fresh token is used instead.
    pub async fn sign_in_again(
        &self,
        challenge: &str,
        failed_token: Option<&str>,
    ) -> Result<(), SignInError> {
        let mut guard = self.manager.lock().await;
        let manager = self.manager(&mut guard).await?;
        if let Ok(current) = manager.get_access_token().await
            && Some(current.as_str()) != failed_token
        {
            return Ok(());
        }
        // A step-up (403 insufficient_scope) needs new consent; only a 401 can be refreshed.
        if failed_token.is_some()
            && !challenge.contains("insufficient_scope")
            && manager.refresh_token().await.is_ok()
        {
            tracing::info!("refreshed the access token");
            return Ok(());
        }
        let manager = guard.take().expect("manager loaded above");
        let (manager, result) = self.sign_in(manager, challenge).await;
        *guard = Some(manager);
        result
    }

    /// The manager, created and loaded from the credential file on first use.
    async fn manager<'a>(
        &self,
        slot: &'a mut Option<AuthorizationManager>,
    ) -> Result<&'a mut AuthorizationManager, SignInError> {
        if slot.is_none() {
            let mut manager = AuthorizationManager::new(self.url.clone())
                .await
                .map_err(|e| self.failed(e))?;
            manager.set_credential_store(self.store.clone());
            // Loads the stored client id and tokens (and re-discovers the server's metadata,
            // dropping tokens if its issuer changed).
            manager
                .initialize_from_store()
                .await
                .map_err(|e| self.failed(e))?;
            *slot = Some(manager);
        }
        Ok(slot.as_mut().expect("just filled"))
    }

    /// The browser sign-in. Always hands the manager back, signed in or not.
    async fn sign_in(
        &self,
        mut manager: AuthorizationManager,
        challenge: &str,
    ) -> (AuthorizationManager, Result<(), SignInError>) {
        match manager
            .resolve_metadata_from_challenge(Some(challenge))
            .await
        {
            Ok(resolution) => manager.set_metadata(resolution.metadata),
            Err(e) => return (manager, Err(self.failed(e))),
        }
        let redirect = match Redirect::bind().await {
            Ok(redirect) => redirect,
            Err(e) => return (manager, Err(e.into())),
        };
        let mut request = AuthorizationRequest::new(redirect.uri())
            .with_client_name(CLIENT_NAME)
            .with_application_type("native")
            .with_challenge(challenge);
        // Least privilege: a first sign-in asks for what the 401 challenge names (else the
        // resource's scopes); a step-up (403 insufficient_scope) asks for what was granted plus
        // what the challenge adds (MCP authorization, "Scope Selection Strategy").
        if !challenge.contains("insufficient_scope") {
            request = request.with_initial_scope_selection();
        }
        if let Some(id) = &self.options.client_id {
            request = request.with_preregistered_client(id);
            if let Some(secret) = &self.options.client_secret {
                request = request.with_client_secret(secret);
            }
        }
        if let Some(url) = &self.options.client_metadata_url {
            request = request.with_client_metadata_url(url);
        }
        let session = match AuthorizationSession::new(manager, request).await {
            Ok(session) => session,
            Err((manager, e)) => return (manager, Err(self.failed(e))),
        };
        let url = session.get_authorization_url().to_owned();
        let opened = self.options.open_browser && open_browser(&url);
        if opened {
            eprintln!(
                "roost connect: finish signing in to {} in your browser (opened). If it did not open, visit:\n  {url}",
                host(&self.url)
            );
        } else {
            eprintln!(
                "roost connect: to sign in to {}, open this URL in a browser:\n  {url}",
                host(&self.url)
            );
        }
        let result = match redirect.wait(self.options.timeout).await {
            Ok(callback) => session
                .handle_callback_url(&callback)
                .await
                .map(|_| ())
                .map_err(|e| self.failed(e)),
            Err(e) => Err(e.into()),
        };
        if result.is_ok() {
            eprintln!("roost connect: signed in to {}", host(&self.url));
        }
        (session.auth_manager, result)
    }

    fn failed(&self, source: AuthError) -> SignInError {
        SignInError::OAuth {
            url: self.url.clone(),
            source: Box::new(source),
        }
    }
}

fn host(url: &Url) -> String {
    url.host_str()
        .map(str::to_owned)
        .unwrap_or_else(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_holds_no_client_secret() {
        let options = SignInOptions {
            client_id: Some("my-client".to_owned()),
            client_secret: Some("cl1ent-s3cret".to_owned()),
            client_metadata_url: None,
            open_browser: false,
            timeout: Duration::from_secs(300),
        };
        let debug = format!("{options:?}");
        assert!(!debug.contains("cl1ent-s3cret"), "{debug}");
        assert!(
            debug.contains("my-client") && debug.contains("<redacted>"),
            "{debug}"
        );
    }
}
