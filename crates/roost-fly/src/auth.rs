//! The `Authorization` header for the Machines API (fly.md §2.1).
//!
//! Fly's Go client sends `FlyV1 <token>` for macaroons (`fm1r_…`, `fm2_…`) and `Bearer <token>`
//! for everything else. Operators paste tokens in every form `fly tokens create` and the docs
//! produce (`fm2_…`, `FlyV1 fm2_…`, sometimes `Bearer …`), so a value that already carries a
//! scheme is sent verbatim, and a bare token gets the scheme its prefix calls for.

use http::HeaderValue;

/// Builds the `Authorization` header value for `token`, marked sensitive so `http`'s `Debug`
/// and any header dump redact it.
pub(crate) fn authorization_header(token: &str) -> Result<HeaderValue, InvalidToken> {
    let token = token.trim();
    if token.is_empty() {
        return Err(InvalidToken::Empty);
    }
    let value = if has_scheme(token) {
        token.to_owned()
    } else if is_macaroon(token) {
        format!("FlyV1 {token}")
    } else {
        format!("Bearer {token}")
    };
    let mut value = HeaderValue::from_str(&value).map_err(|_| InvalidToken::NotAHeaderValue)?;
    value.set_sensitive(true);
    Ok(value)
}

/// A pasted `FlyV1 …` or `Bearer …` (any case, as HTTP auth schemes are case-insensitive).
fn has_scheme(token: &str) -> bool {
    let Some((scheme, rest)) = token.split_once(' ') else {
        return false;
    };
    !rest.trim().is_empty()
        && (scheme.eq_ignore_ascii_case("FlyV1") || scheme.eq_ignore_ascii_case("Bearer"))
}

/// Macaroon tokens, which fly-go sends with the `FlyV1` scheme.
fn is_macaroon(token: &str) -> bool {
    token.starts_with("fm1r_") || token.starts_with("fm2_")
}

/// Why a configured token cannot be used. Never contains the token itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidToken {
    /// Nothing configured.
    #[error("the Fly API token is empty; set it to the output of `fly tokens create org`")]
    Empty,
    /// Control characters or non-visible bytes (often a pasted newline in the middle).
    #[error(
        "the Fly API token contains characters that cannot go in an HTTP header; \
         paste it again without line breaks"
    )]
    NotAHeaderValue,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(token: &str) -> String {
        authorization_header(token)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn macaroons_get_the_flyv1_scheme() {
        assert_eq!(header("fm2_abc,fm2_def"), "FlyV1 fm2_abc,fm2_def");
        assert_eq!(header("fm1r_abc"), "FlyV1 fm1r_abc");
    }

    #[test]
    fn other_tokens_get_bearer() {
        assert_eq!(header("abc123"), "Bearer abc123");
    }

    #[test]
    fn pasted_schemes_are_sent_verbatim() {
        assert_eq!(header("FlyV1 fm2_abc"), "FlyV1 fm2_abc");
        assert_eq!(header("Bearer abc"), "Bearer abc");
        assert_eq!(header("  FlyV1 fm2_abc\n"), "FlyV1 fm2_abc");
    }

    #[test]
    fn header_is_marked_sensitive() {
        assert!(authorization_header("fm2_x").unwrap().is_sensitive());
    }

    #[test]
    fn empty_and_broken_tokens_are_refused_without_echoing_them() {
        assert_eq!(authorization_header("  "), Err(InvalidToken::Empty));
        let err = authorization_header("fm2_a\nb").unwrap_err();
        assert_eq!(err, InvalidToken::NotAHeaderValue);
        assert!(!err.to_string().contains("fm2_a"));
    }
}
