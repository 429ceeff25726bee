//! Server-rendered pages (sign-in, consent, errors, "you can close this window"): minijinja
//! templates compiled into the binary from `templates/`, HTML-escaped by default, no JavaScript.
//!
//! Every page carries headers that keep it from being framed (clickjacking the consent button,
//! MCP security best practices §confused deputy) or cached, and a content security policy that
//! allows only the inline stylesheet and https images (client logos).

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, Value, context};

const TEMPLATES: [(&str, &str); 5] = [
    ("base.html", include_str!("../templates/base.html")),
    ("signin.html", include_str!("../templates/signin.html")),
    ("consent.html", include_str!("../templates/consent.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("done.html", include_str!("../templates/done.html")),
];

/// The content security policy of every page.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; \
                       frame-ancestors 'none'; base-uri 'none'";

/// The page renderer. Cheap to clone.
#[derive(Clone)]
pub struct Pages {
    env: Arc<Environment<'static>>,
}

impl Pages {
    /// Loads the templates (compiled in, so this fails only on a template syntax error).
    pub fn new() -> Result<Pages, minijinja::Error> {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        Ok(Pages { env: Arc::new(env) })
    }

    /// Renders `template` with `ctx` as an HTML response with the page headers.
    pub fn render(&self, status: StatusCode, template: &str, ctx: Value) -> Response {
        let html = self.env.get_template(template).and_then(|t| t.render(ctx));
        match html {
            Ok(html) => with_page_headers((status, Html(html)).into_response()),
            Err(e) => {
                tracing::error!(template, error = %e, "a page failed to render");
                with_page_headers(
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Html("<h1>Something went wrong</h1>".to_owned()),
                    )
                        .into_response(),
                )
            }
        }
    }

    /// An error page: a title, a sentence saying what went wrong, and what to do about it.
    pub fn error(
        &self,
        status: StatusCode,
        title: &str,
        message: &str,
        hint: Option<&str>,
    ) -> Response {
        self.render(status, "error.html", context! { title, message, hint })
    }

    /// A page saying the flow is over and the window may be closed.
    pub fn done(&self, title: &str, message: &str) -> Response {
        self.render(StatusCode::OK, "done.html", context! { title, message })
    }
}

/// Adds the anti-framing, no-cache and CSP headers.
pub fn with_page_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pages_escape_input_and_forbid_framing() {
        let pages = Pages::new().unwrap();
        let response = pages.error(
            StatusCode::BAD_REQUEST,
            "Oops",
            "<script>alert(1)</script>",
            None,
        );
        assert_eq!(response.headers()[header::X_FRAME_OPTIONS], "DENY");
        assert!(
            response.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            body.contains("&lt;script&gt;") && !body.contains("<script>"),
            "{body}"
        );
    }
}
