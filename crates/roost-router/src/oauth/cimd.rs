//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, MCP 2025-11-25+):
//! a client whose `client_id` is an https URL publishes its metadata there. The router fetches
//! it with the [`SafeFetcher`], validates it, and caches it by its `Cache-Control` header within
//! bounds ([`MIN_CACHE`]..[`MAX_CACHE`], [`DEFAULT_CACHE`] when the header is silent), so a
//! client cannot make the router fetch on every request nor pin a stale document for weeks.
//! A failed fetch or an unusable document is remembered for [`FAILURE_CACHE`], so repeated
//! authorization requests naming someone else's URL cannot make the router hammer that site.

use std::time::{Duration, Instant};

use serde::Deserialize;

use super::clients::{
    Client, ClientError, ClientKind, check_redirect_uris, infer_application_type,
};
use super::fetch::{FetchError, SafeFetcher};

/// Shortest time a document is cached (even with `no-store`: the authorize → consent → token
/// round trip must see one document).
pub const MIN_CACHE: Duration = Duration::from_secs(60);
/// Longest time a document is cached.
pub const MAX_CACHE: Duration = Duration::from_secs(24 * 3600);
/// How long a failure is remembered.
pub const FAILURE_CACHE: Duration = Duration::from_secs(60);
/// Cache time when the server says nothing.
pub const DEFAULT_CACHE: Duration = Duration::from_secs(600);

/// Why a metadata document was not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CimdError {
    /// The URL is not a valid metadata-document client id.
    #[error(
        "the client_id {0:?} is not a valid metadata document URL: it needs https and a path, and no fragment"
    )]
    BadId(String),
    /// Fetching failed.
    #[error("the client's metadata document could not be fetched: {0}")]
    Fetch(#[from] FetchError),
    /// The body is not the expected JSON.
    #[error("the client's metadata document is not valid JSON metadata: {0}")]
    Json(String),
    /// `client_id` in the document differs from its URL.
    #[error("the client's metadata document names client_id {found:?}, not its own URL")]
    IdMismatch {
        /// What the document says.
        found: String,
    },
    /// The document asks for something roost does not offer, or has bad redirect URIs.
    #[error("the client's metadata document is not acceptable: {0}")]
    Invalid(#[from] ClientError),
}

/// The fields roost reads from a document; others are ignored.
#[derive(Debug, Deserialize)]
struct Document {
    client_id: String,
    client_name: Option<String>,
    client_uri: Option<String>,
    logo_uri: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    application_type: Option<String>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
}

/// Fetches and caches metadata documents. Cheap to clone.
#[derive(Clone)]
pub struct MetadataDocuments {
    fetcher: SafeFetcher,
    cache: moka::future::Cache<String, (Result<Client, CimdError>, Instant)>,
}

impl MetadataDocuments {
    /// Documents fetched with `fetcher`.
    pub fn new(fetcher: SafeFetcher) -> Self {
        let cache = moka::future::Cache::builder()
            .max_capacity(10_000)
            .time_to_live(MAX_CACHE)
            .build();
        MetadataDocuments { fetcher, cache }
    }

    /// The client described at `client_id`, from the cache or freshly fetched.
    pub async fn client(&self, client_id: &str) -> Result<Client, CimdError> {
        if let Some((answer, until)) = self.cache.get(client_id).await
            && Instant::now() < until
        {
            return answer;
        }
        let (answer, ttl) = match self.fetch(client_id).await {
            Ok((client, ttl)) => (Ok(client), ttl),
            Err(e) => {
                tracing::info!(client_id, error = %e, "a client metadata document is unusable");
                (Err(e), FAILURE_CACHE)
            }
        };
        self.cache
            .insert(client_id.to_owned(), (answer.clone(), Instant::now() + ttl))
            .await;
        answer
    }

    async fn fetch(&self, client_id: &str) -> Result<(Client, Duration), CimdError> {
        let url = url::Url::parse(client_id).map_err(|_| CimdError::BadId(client_id.to_owned()))?;
        if url.fragment().is_some() || url.path() == "/" || url.path().is_empty() {
            return Err(CimdError::BadId(client_id.to_owned()));
        }
        let fetched = self.fetcher.get_json(client_id).await?;
        let client = parse(client_id, &fetched.body)?;
        let ttl = fetched
            .max_age
            .unwrap_or(DEFAULT_CACHE)
            .clamp(MIN_CACHE, MAX_CACHE);
        tracing::info!(
            client_id,
            ttl_s = ttl.as_secs(),
            "fetched a client metadata document"
        );
        Ok((client, ttl))
    }
}

/// Validates a document fetched from `client_id`.
pub fn parse(client_id: &str, body: &[u8]) -> Result<Client, CimdError> {
    let doc: Document = serde_json::from_slice(body).map_err(|e| CimdError::Json(e.to_string()))?;
    // CIMD §4.1: the document's client_id MUST equal the URL it was fetched from, exactly.
    if doc.client_id != client_id {
        return Err(CimdError::IdMismatch {
            found: doc.client_id,
        });
    }
    match doc.token_endpoint_auth_method.as_deref() {
        None | Some("none") => {}
        Some(other) => {
            return Err(ClientError::Field(format!(
                "token_endpoint_auth_method {other:?} is not supported for metadata-document clients (use \"none\")"
            ))
            .into());
        }
    }
    if let Some(grants) = &doc.grant_types
        && !grants.iter().any(|g| g == "authorization_code")
    {
        return Err(
            ClientError::Field("grant_types must include authorization_code".into()).into(),
        );
    }
    if let Some(types) = &doc.response_types
        && !types.iter().any(|t| t == "code")
    {
        return Err(ClientError::Field("response_types must include code".into()).into());
    }
    let application_type =
        infer_application_type(doc.application_type.as_deref(), &doc.redirect_uris)?;
    check_redirect_uris(&doc.redirect_uris, &application_type)?;
    Ok(Client {
        client_id: doc.client_id,
        client_name: doc.client_name,
        client_uri: doc.client_uri.filter(|u| u.starts_with("https://")),
        logo_uri: doc.logo_uri.filter(|u| u.starts_with("https://")),
        redirect_uris: doc.redirect_uris,
        application_type,
        secret_sha256: None,
        trusted: false,
        kind: ClientKind::MetadataDocument,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "https://app.example/oauth/client.json";

    #[test]
    fn a_valid_document_becomes_a_public_client() {
        let body = format!(
            r#"{{"client_id":"{ID}","client_name":"Example","redirect_uris":["http://127.0.0.1/cb"],"logo_uri":"http://x/logo.png"}}"#
        );
        let client = parse(ID, body.as_bytes()).unwrap();
        assert_eq!(client.display_name(), "Example");
        assert_eq!(client.application_type, "native");
        assert!(!client.is_confidential());
        assert_eq!(client.logo_uri, None, "a non-https logo is dropped");
    }

    #[test]
    fn documents_that_lie_or_lack_redirects_are_refused() {
        let other = r#"{"client_id":"https://evil.example/c.json","redirect_uris":["https://evil.example/cb"]}"#;
        assert!(matches!(
            parse(ID, other.as_bytes()),
            Err(CimdError::IdMismatch { .. })
        ));
        let none = format!(r#"{{"client_id":"{ID}"}}"#);
        assert!(
            parse(ID, none.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("redirect URI")
        );
        let secret = format!(
            r#"{{"client_id":"{ID}","redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"client_secret_basic"}}"#
        );
        assert!(
            parse(ID, secret.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("not supported")
        );
        assert!(matches!(parse(ID, b"<html>"), Err(CimdError::Json(_))));
    }
}
