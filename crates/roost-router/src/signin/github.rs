//! Sign-in with GitHub (an OAuth app): the browser goes to GitHub's authorize page, the
//! callback's code is exchanged for a GitHub token, and `GET /user` says who it is. The
//! identity's subject is GitHub's numeric user id, which survives login renames.
//!
//! Base URLs are configurable for GitHub Enterprise Server. Tested at the unit level only (URL
//! building, the code exchange's body, user mapping): there is no GitHub to sign in to here.

use serde::Deserialize;
use url::Url;

use super::SignInError;
use super::users::Identity;
use crate::oauth::config::{GithubConfig, ResolvedSecret};

/// The identity provider name.
pub const PROVIDER: &str = "github";

/// GitHub as configured.
pub struct Github {
    client_id: String,
    secret: ResolvedSecret,
    web_url: String,
    api_url: String,
    http: reqwest::Client,
}

/// The part of `GET /user` roost reads.
#[derive(Debug, Clone, Deserialize)]
pub struct GithubUser {
    /// Stable numeric id.
    pub id: u64,
    /// Login (may change).
    pub login: String,
    /// Display name.
    pub name: Option<String>,
    /// Public e-mail.
    pub email: Option<String>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl Github {
    /// GitHub from config; `http` must not follow redirects.
    pub fn new(config: GithubConfig, secret: ResolvedSecret, http: reqwest::Client) -> Self {
        Github {
            client_id: config.client_id,
            secret,
            web_url: config
                .web_url
                .unwrap_or_else(|| "https://github.com".into())
                .trim_end_matches('/')
                .to_owned(),
            api_url: config
                .api_url
                .unwrap_or_else(|| "https://api.github.com".into())
                .trim_end_matches('/')
                .to_owned(),
            http,
        }
    }

    /// The authorize URL for `state`, with a PKCE S256 `challenge`.
    pub fn authorize_url(&self, redirect_uri: &str, state: &str, challenge: &str) -> String {
        let mut url = Url::parse(&format!("{}/login/oauth/authorize", self.web_url))
            .expect("web_url is checked to be an absolute URL at start-up");
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", "read:user user:email")
            .append_pair("state", state)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("allow_signup", "false");
        url.to_string()
    }

    /// Exchanges `code` and reads the user.
    pub async fn finish(
        &self,
        redirect_uri: &str,
        code: &str,
        verifier: &str,
    ) -> Result<Identity, SignInError> {
        let upstream = |why: String| SignInError::Upstream {
            provider: "GitHub".into(),
            why,
        };
        let answer: TokenAnswer = self
            .http
            .post(format!("{}/login/oauth/access_token", self.web_url))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&self.token_form(redirect_uri, code, verifier))
            .send()
            .await
            .map_err(|e| upstream(e.to_string()))?
            .json()
            .await
            .map_err(|e| upstream(e.to_string()))?;
        let token = match (answer.access_token, answer.error) {
            (Some(token), None) => token,
            (_, error) => {
                return Err(upstream(format!(
                    "{}: {}",
                    error.unwrap_or_else(|| "no access token".into()),
                    answer.error_description.unwrap_or_default()
                )));
            }
        };
        let user: GithubUser = self
            .http
            .get(format!("{}/user", self.api_url))
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .header(reqwest::header::USER_AGENT, "roost-router")
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| upstream(e.to_string()))?
            .json()
            .await
            .map_err(|e| upstream(e.to_string()))?;
        Ok(identity(&user))
    }

    fn token_form<'a>(
        &'a self,
        redirect_uri: &'a str,
        code: &'a str,
        verifier: &'a str,
    ) -> [(&'a str, &'a str); 5] {
        [
            ("client_id", &self.client_id),
            ("client_secret", &self.secret.0),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ]
    }
}

/// The roost identity of a GitHub user.
pub fn identity(user: &GithubUser) -> Identity {
    Identity {
        provider: PROVIDER.into(),
        subject: user.id.to_string(),
        email: user.email.clone(),
        name: Some(user.name.clone().unwrap_or_else(|| user.login.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn github(web: Option<&str>) -> Github {
        Github::new(
            GithubConfig {
                client_id: "Iv1.abc".into(),
                client_secret: None,
                client_secret_env: None,
                web_url: web.map(str::to_owned),
                api_url: None,
            },
            ResolvedSecret("shh".into()),
            reqwest::Client::new(),
        )
    }

    #[test]
    fn the_authorize_url_carries_client_state_and_pkce() {
        let url = Url::parse(&github(None).authorize_url(
            "https://mcp.example.com/signin/callback/github",
            "st",
            "ch",
        ))
        .unwrap();
        assert_eq!(url.host_str(), Some("github.com"));
        assert_eq!(url.path(), "/login/oauth/authorize");
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["client_id"], "Iv1.abc");
        assert_eq!(q["state"], "st");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(
            q["redirect_uri"],
            "https://mcp.example.com/signin/callback/github"
        );
        let enterprise =
            github(Some("https://git.corp.example/")).authorize_url("https://x/cb", "s", "c");
        assert!(
            enterprise.starts_with("https://git.corp.example/login/oauth/authorize?"),
            "{enterprise}"
        );
    }

    #[test]
    fn the_code_exchange_sends_the_verifier_and_secret() {
        let g = github(None);
        let form = g.token_form("https://x/cb", "the-code", "the-verifier");
        assert!(
            form.contains(&("code_verifier", "the-verifier"))
                && form.contains(&("client_secret", "shh"))
        );
    }

    #[test]
    fn users_map_by_numeric_id_not_login() {
        let user: GithubUser = serde_json::from_str(
            r#"{"id":583231,"login":"octocat","name":null,"email":"o@github.com"}"#,
        )
        .unwrap();
        let id = identity(&user);
        assert_eq!(
            (id.provider.as_str(), id.subject.as_str()),
            ("github", "583231")
        );
        assert_eq!(id.name.as_deref(), Some("octocat"));
        assert_eq!(id.email.as_deref(), Some("o@github.com"));
    }
}
