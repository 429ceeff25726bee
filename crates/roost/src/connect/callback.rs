//! The browser side of signing in: open the authorization URL in the user's browser and catch
//! the redirect back on a loopback listener (`http://127.0.0.1:<random port>/callback`, the
//! native-app pattern of RFC 8252 §7.3), answering it with a page that says what happened.
//!
//! The listener only accepts the one redirect it waits for and stops; nothing else is served.

use std::net::Ipv4Addr;
use std::process::Stdio;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use std::collections::HashMap;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Errors waiting for the redirect.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// No loopback port could be opened.
    #[error("cannot listen on 127.0.0.1 for the sign-in redirect: {0}")]
    Listen(std::io::Error),
    /// The user did not finish in time.
    #[error("the sign-in was not finished within {0:?}; reconnect to try again")]
    TimedOut(Duration),
    /// The authorization server sent the user back with an error (RFC 6749 §4.1.2.1).
    #[error("the sign-in was refused: {0}")]
    Refused(String),
}

/// A loopback listener waiting for one authorization redirect.
pub struct Redirect {
    listener: TcpListener,
}

impl Redirect {
    /// Binds a random port on 127.0.0.1.
    pub async fn bind() -> Result<Self, CallbackError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(CallbackError::Listen)?;
        Ok(Self { listener })
    }

    /// The redirect URI to register and send: `http://127.0.0.1:<port>/callback`. (An IP
    /// literal, not `localhost`, per RFC 8252 §8.3.)
    pub fn uri(&self) -> String {
        let port = self
            .listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default();
        format!("http://127.0.0.1:{port}/callback")
    }

    /// Waits for the browser to come back and returns the full redirect URL (with `code`,
    /// `state` and `iss`), or the error the authorization server sent.
    pub async fn wait(self, timeout: Duration) -> Result<String, CallbackError> {
        let base = self.uri();
        let (tx, mut rx) = mpsc::channel::<HashMap<String, String>>(1);
        let app = axum::Router::new()
            .route("/callback", axum::routing::get(callback))
            .with_state(tx);
        let server = tokio::spawn(async move { axum::serve(self.listener, app).await });
        let received = tokio::time::timeout(timeout, rx.recv()).await;
        // Give the page a moment to reach the browser before the listener goes away.
        tokio::time::sleep(Duration::from_millis(200)).await;
        server.abort();
        let params = received
            .map_err(|_| CallbackError::TimedOut(timeout))?
            .ok_or(CallbackError::TimedOut(timeout))?;
        if let Some(error) = params.get("error") {
            let description = params
                .get("error_description")
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            return Err(CallbackError::Refused(format!("{error}{description}")));
        }
        let mut url = url::Url::parse(&base).expect("our own URI parses");
        url.query_pairs_mut().extend_pairs(params.iter());
        Ok(url.to_string())
    }
}

async fn callback(
    State(tx): State<mpsc::Sender<HashMap<String, String>>>,
    Query(params): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    let page = if let Some(error) = params.get("error") {
        let detail = params
            .get("error_description")
            .map(String::as_str)
            .unwrap_or(error);
        page(
            "Sign-in failed",
            &format!(
                "The server said: {}. Close this window and try again.",
                escape(detail)
            ),
        )
    } else if params.contains_key("code") {
        page(
            "Signed in",
            "You can close this window and go back to your MCP client.",
        )
    } else {
        return (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "not a sign-in redirect".to_owned(),
        )
            .into_response();
    };
    let _ = tx.try_send(params);
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

fn page(title: &str, message: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · roost</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:5rem auto;padding:0 1rem;color:#222}}</style>\
         </head><body><h1>{title}</h1><p>{message}</p></body></html>"
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Opens `url` in the user's browser; says so on stderr when it cannot. The browser's own
/// output goes nowhere: stdout is the MCP stream.
pub fn open_browser(url: &str) -> bool {
    let mut command = if cfg!(target_os = "macos") {
        std::process::Command::new("open")
    } else if cfg!(windows) {
        // `start` would parse `&` in the URL; the URL handler takes it verbatim.
        let mut c = std::process::Command::new("rundll32");
        c.arg("url.dll,FileProtocolHandler");
        c
    } else {
        std::process::Command::new("xdg-open")
    };
    command
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command.spawn().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_redirect_is_caught_and_the_browser_told_it_can_close() {
        let redirect = Redirect::bind().await.unwrap();
        let uri = redirect.uri();
        assert!(
            uri.starts_with("http://127.0.0.1:") && uri.ends_with("/callback"),
            "{uri}"
        );
        let waiting = tokio::spawn(redirect.wait(Duration::from_secs(10)));
        let page = reqwest::get(format!(
            "{uri}?code=abc&state=xyz&iss=https%3A%2F%2Fauth.example"
        ))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
        assert!(page.contains("You can close this window"), "{page}");
        let url = url::Url::parse(&waiting.await.unwrap().unwrap()).unwrap();
        let query: HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(query["code"], "abc");
        assert_eq!(query["state"], "xyz");
        assert_eq!(query["iss"], "https://auth.example");
    }

    #[tokio::test]
    async fn a_refusal_is_reported_in_words() {
        let redirect = Redirect::bind().await.unwrap();
        let uri = redirect.uri();
        let waiting = tokio::spawn(redirect.wait(Duration::from_secs(10)));
        let page = reqwest::get(format!(
            "{uri}?error=access_denied&error_description=You%20said%20no"
        ))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
        assert!(
            page.contains("Sign-in failed") && page.contains("You said no"),
            "{page}"
        );
        let error = waiting.await.unwrap().unwrap_err().to_string();
        assert_eq!(
            error,
            "the sign-in was refused: access_denied (You said no)"
        );
    }
}
