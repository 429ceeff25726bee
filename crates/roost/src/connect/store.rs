//! Where `roost connect` keeps a user's OAuth tokens between runs: one JSON file per MCP URL
//! under the user's config directory, readable only by them (mode 0600 in a 0700 folder on
//! Unix), replaced atomically so a crash mid-write never leaves half a token behind.
//!
//! It implements rmcp's [`CredentialStore`], so rmcp's `AuthorizationManager` loads, saves and
//! refreshes through it.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use rmcp_client::transport::auth::{AuthError, CredentialStore, StoredCredentials};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use url::Url;

/// Errors reading or writing the token file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file or its folder could not be read or written.
    #[error("cannot use the token file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file holds something else.
    #[error(
        "the token file {path} is damaged ({source}); remove it or run `roost connect --logout URL`"
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        AuthError::CredentialStoreError(e.to_string())
    }
}

/// What the file holds: the URL (so a person looking at the folder knows whose tokens these
/// are) and rmcp's credentials (client id, tokens, granted scopes, issuer).
#[derive(Serialize, Deserialize)]
struct FileContents {
    mcp_url: String,
    credentials: StoredCredentials,
}

/// The token file for one MCP URL.
#[derive(Debug, Clone)]
pub struct CredentialFile {
    url: Url,
    path: PathBuf,
}

impl CredentialFile {
    /// The file for `url` under `config_dir`: `credentials/<first 16 hex of SHA-256(url)>.json`.
    pub fn for_url(config_dir: &Path, url: &Url) -> Self {
        let digest = hex::encode(Sha256::digest(url.as_str().as_bytes()));
        let path = config_dir
            .join("credentials")
            .join(format!("{}.json", &digest[..16]));
        Self {
            url: url.clone(),
            path,
        }
    }

    /// Deletes the file; a missing file is fine.
    pub fn remove(&self) -> Result<(), StoreError> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(self.io(e)),
            _ => Ok(()),
        }
    }

    fn read(&self) -> Result<Option<StoredCredentials>, StoreError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(e)),
        };
        let contents: FileContents =
            serde_json::from_slice(&bytes).map_err(|source| StoreError::Damaged {
                path: self.path.clone(),
                source,
            })?;
        Ok(Some(contents.credentials))
    }

    fn write(&self, credentials: StoredCredentials) -> Result<(), StoreError> {
        let folder = self.path.parent().expect("the file is inside credentials/");
        create_private_dir(folder).map_err(|e| self.io(e))?;
        let contents = FileContents {
            mcp_url: self.url.to_string(),
            credentials,
        };
        let json = serde_json::to_vec_pretty(&contents).expect("credentials serialize");
        let temporary = self
            .path
            .with_extension(format!("json.{}.tmp", std::process::id()));
        let written = create_private_file(&temporary)
            .and_then(|mut file| file.write_all(&json).and_then(|()| file.sync_all()))
            .and_then(|()| std::fs::rename(&temporary, &self.path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(self.io(e));
        }
        Ok(())
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

#[cfg(unix)]
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

#[cfg(not(unix))]
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(path)
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

#[async_trait]
impl CredentialStore for CredentialFile {
    async fn load(&self) -> Result<Option<StoredCredentials>, AuthError> {
        Ok(self.read()?)
    }

    async fn save(&self, credentials: StoredCredentials) -> Result<(), AuthError> {
        Ok(self.write(credentials)?)
    }

    async fn clear(&self) -> Result<(), AuthError> {
        Ok(self.remove()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(client_id: &str) -> StoredCredentials {
        StoredCredentials::new(
            client_id.to_owned(),
            None,
            vec!["roost:workspace".to_owned()],
            Some(1_800_000_000),
        )
        .with_issuer(Some("https://mcp.example.com".to_owned()))
    }

    #[tokio::test]
    async fn saved_credentials_come_back_and_only_the_owner_can_read_them() {
        let dir = tempfile::tempdir().unwrap();
        let url = Url::parse("https://mcp.example.com/mcp").unwrap();
        let file = CredentialFile::for_url(dir.path(), &url);
        assert!(file.load().await.unwrap().is_none(), "nothing stored yet");

        file.save(credentials("client-1")).await.unwrap();
        let loaded = file.load().await.unwrap().expect("stored");
        assert_eq!(loaded.client_id, "client-1");
        assert_eq!(loaded.granted_scopes, ["roost:workspace"]);
        assert_eq!(loaded.issuer.as_deref(), Some("https://mcp.example.com"));

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&file.path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "token file must be private");
            let folder = std::fs::metadata(file.path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(folder & 0o777, 0o700, "token folder must be private");
        }
        let leftovers: Vec<_> = std::fs::read_dir(file.path.parent().unwrap())
            .unwrap()
            .collect();
        assert_eq!(leftovers.len(), 1, "no temporary files left behind");

        file.clear().await.unwrap();
        assert!(file.load().await.unwrap().is_none(), "cleared");
        file.clear().await.unwrap();
    }

    #[test]
    fn each_url_has_its_own_file() {
        let dir = Path::new("/config");
        let a = CredentialFile::for_url(dir, &Url::parse("https://a.example.com/mcp").unwrap());
        let b = CredentialFile::for_url(dir, &Url::parse("https://b.example.com/mcp").unwrap());
        assert_ne!(a.path, b.path);
        assert!(a.path.starts_with("/config/credentials"));
    }

    #[tokio::test]
    async fn a_damaged_file_says_how_to_recover() {
        let dir = tempfile::tempdir().unwrap();
        let file = CredentialFile::for_url(
            dir.path(),
            &Url::parse("https://a.example.com/mcp").unwrap(),
        );
        std::fs::create_dir_all(file.path.parent().unwrap()).unwrap();
        std::fs::write(&file.path, "not json").unwrap();
        let error = file.load().await.unwrap_err().to_string();
        assert!(error.contains("--logout"), "{error}");
    }
}
