//! Workspace files as MCP resources, named `workspace:///<path relative to the workspace>`.
//!
//! A dedicated scheme rather than `file://`: a `file://` URI names a path on the *client's*
//! machine to most clients, while these files live on the user's remote volume. Reading goes
//! through the same confined [`Files`] handle as the tools, so the resource side cannot escape
//! the workspace either. Contents are served as text when they are valid UTF-8 without NUL
//! bytes, otherwise as a base64 blob; the MIME type is guessed from the extension.

use base64::Engine;
use rmcp::{
    ErrorData,
    model::{
        CacheScope, ListResourceTemplatesResult, ListResourcesResult, ReadResourceResult, Resource,
        ResourceContents, ResourceTemplate,
    },
};

use crate::tools::files::Files;

/// The URI scheme prefix of workspace files.
pub const PREFIX: &str = "workspace:///";

/// How many files one `resources/list` page holds; `nextCursor` leads to the next page.
pub const LIST_LIMIT: usize = 1000;

/// The resource URI of a workspace-relative path.
pub fn uri_for(path: &str) -> String {
    let mut uri = String::from(PREFIX);
    for byte in path.trim_start_matches('/').bytes() {
        match byte {
            // Characters that would change the URI's structure or are not allowed in it.
            b' '
            | b'%'
            | b'#'
            | b'?'
            | b'"'
            | b'<'
            | b'>'
            | b'\\'
            | b'^'
            | b'`'
            | b'{'
            | b'|'
            | b'}'
            | 0..=0x1f
            | 0x7f.. => uri.push_str(&format!("%{byte:02X}")),
            _ => uri.push(byte as char),
        }
    }
    uri
}

/// The workspace-relative path of a resource URI, or `None` if it is not a workspace URI.
pub fn path_of(uri: &str) -> Option<String> {
    let encoded = uri.strip_prefix(PREFIX)?;
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = encoded.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let path = String::from_utf8(out).ok()?;
    (!path.is_empty()).then_some(path)
}

/// `resources/list`: the workspace's files, [`LIST_LIMIT`] per page (per-user data: never
/// publicly cacheable). The cursor is the last path of the previous page, base64url-encoded:
/// opaque to clients, as MCP's pagination asks, and stable while files come and go.
pub async fn list(files: &Files, cursor: Option<&str>) -> Result<ListResourcesResult, ErrorData> {
    let after = cursor.map(path_of_cursor).transpose()?;
    let (infos, more) = files.list_page(after, LIST_LIMIT).await.map_err(|e| {
        ErrorData::internal_error(format!("listing the workspace failed: {e}"), None)
    })?;
    let next_cursor = more
        .then(|| infos.last())
        .flatten()
        .map(|last| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&last.path));
    let resources = infos
        .into_iter()
        .map(|info| {
            let mut resource =
                Resource::new(uri_for(&info.path), info.path.clone()).with_size(info.size);
            if let Some(mime) = mime_guess::from_path(&info.path).first() {
                resource = resource.with_mime_type(mime.essence_str());
            }
            resource
        })
        .collect();
    let mut result = ListResourcesResult::with_all_items(resources)
        .with_ttl_ms(0)
        .with_cache_scope(CacheScope::Private);
    result.next_cursor = next_cursor;
    Ok(result)
}

/// The path a `resources/list` cursor stands for; a cursor this server did not give is an
/// invalid parameter (MCP pagination: -32602).
fn path_of_cursor(cursor: &str) -> Result<String, ErrorData> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|path| !path.is_empty())
        .ok_or_else(|| {
            ErrorData::invalid_params(
                "the cursor is not one this server gave: list again without a cursor",
                None,
            )
        })
}

/// `resources/templates/list`: any workspace path.
pub fn templates() -> ListResourceTemplatesResult {
    ListResourceTemplatesResult::with_all_items(vec![
        ResourceTemplate::new(format!("{PREFIX}{{+path}}"), "workspace file")
            .with_title("A file in your workspace")
            .with_description(
                "Any file in the workspace folder, by its path relative to the workspace root.",
            ),
    ])
    .with_ttl_ms(0)
    .with_cache_scope(CacheScope::Private)
}

/// `resources/read`: one file, as text or blob.
pub async fn read(files: &Files, uri: &str) -> Result<ReadResourceResult, ErrorData> {
    let path = path_of(uri).ok_or_else(|| {
        ErrorData::resource_not_found(
            format!("unknown resource {uri}: workspace files are named {PREFIX}<path>"),
            None,
        )
    })?;
    let bytes = files
        .read_bytes(&path)
        .await
        .map_err(|e| ErrorData::resource_not_found(format!("{uri}: {e}"), None))?;
    Ok(ReadResourceResult::new(vec![contents(uri, &path, bytes)])
        .with_ttl_ms(0)
        .with_cache_scope(CacheScope::Private))
}

/// Text contents for UTF-8 text, a base64 blob for anything else.
pub fn contents(uri: &str, path: &str, bytes: Vec<u8>) -> ResourceContents {
    let guessed = mime_guess::from_path(path).first();
    match String::from_utf8(bytes) {
        Ok(text) if !text.contains('\0') => {
            let mime = guessed
                .map(|m| m.essence_str().to_owned())
                .unwrap_or_else(|| "text/plain".to_owned());
            ResourceContents::text(text, uri).with_mime_type(mime)
        }
        Ok(text) => blob(uri, guessed, text.into_bytes()),
        Err(e) => blob(uri, guessed, e.into_bytes()),
    }
}

fn blob(uri: &str, mime: Option<mime_guess::Mime>, bytes: Vec<u8>) -> ResourceContents {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    ResourceContents::blob(encoded, uri).with_mime_type(
        mime.map(|m| m.essence_str().to_owned())
            .unwrap_or_else(|| "application/octet-stream".to_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip_through_uris() {
        for path in ["notes/todo.md", "a b/c%d#e?.txt", "ünïcode/файл.txt"] {
            let uri = uri_for(path);
            assert!(!uri.contains(' '), "{uri}");
            assert_eq!(path_of(&uri).as_deref(), Some(path));
        }
        assert_eq!(path_of("file:///etc/passwd"), None);
        assert_eq!(path_of("workspace:///"), None);
        assert_eq!(path_of("workspace:///bad%zz"), None);
    }

    #[test]
    fn utf8_is_text_and_anything_else_is_a_blob() {
        match contents("workspace:///a.md", "a.md", b"# hi".to_vec()) {
            ResourceContents::TextResourceContents {
                text, mime_type, ..
            } => {
                assert_eq!(text, "# hi");
                assert_eq!(mime_type.as_deref(), Some("text/markdown"));
            }
            other => panic!("expected text, got {other:?}"),
        }
        match contents(
            "workspace:///x.png",
            "x.png",
            vec![0x89, b'P', b'N', b'G', 0, 0xff],
        ) {
            ResourceContents::BlobResourceContents {
                blob, mime_type, ..
            } => {
                assert_eq!(blob, "iVBORwD/");
                assert_eq!(mime_type.as_deref(), Some("image/png"));
            }
            other => panic!("expected a blob, got {other:?}"),
        }
        match contents("workspace:///data", "data", vec![b'a', 0, b'b']) {
            ResourceContents::BlobResourceContents { mime_type, .. } => {
                assert_eq!(mime_type.as_deref(), Some("application/octet-stream"));
            }
            other => panic!("expected a blob, got {other:?}"),
        }
    }
}
