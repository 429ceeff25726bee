//! Prompts the user can pick in their client.
//!
//! - `review_file`: a code/text review of one workspace file, with the file embedded as a
//!   resource so the model sees its exact contents.
//! - `summarize_notes`: ask the model to recall the user's notes (optionally on a topic) and
//!   summarise them; it uses the `recall` tool, so the prompt stays small.

use rmcp::{
    ErrorData,
    model::{
        ContentBlock, EmbeddedResource, GetPromptResult, ListPromptsResult, Prompt, PromptArgument,
        PromptMessage, Role,
    },
};
use serde_json::{Map, Value};

use super::resources;
use crate::tools::files::Files;

/// `prompts/list`.
pub fn list() -> ListPromptsResult {
    ListPromptsResult::with_all_items(vec![
        Prompt::new(
            "review_file",
            Some("Review one file from your workspace: bugs, unclear parts, suggested fixes."),
            Some(vec![
                PromptArgument::new("path")
                    .with_description("Path of the file, relative to the workspace root")
                    .with_required(true),
                PromptArgument::new("focus")
                    .with_description("What to pay most attention to (e.g. security, style)")
                    .with_required(false),
            ]),
        )
        .with_title("Review a file"),
        Prompt::new(
            "summarize_notes",
            Some("Summarise what you have asked the assistant to remember."),
            Some(vec![
                PromptArgument::new("topic")
                    .with_description("Only notes about this topic (default: all notes)")
                    .with_required(false),
            ]),
        )
        .with_title("Summarise my notes"),
    ])
}

/// `prompts/get`.
pub async fn get(
    files: &Files,
    name: &str,
    arguments: Option<&Map<String, Value>>,
) -> Result<GetPromptResult, ErrorData> {
    let arg = |key: &str| {
        arguments
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    match name {
        "review_file" => {
            let path = arg("path").ok_or_else(|| {
                ErrorData::invalid_params("review_file needs a `path` argument", None)
            })?;
            let bytes = files
                .read_bytes(path)
                .await
                .map_err(|e| ErrorData::invalid_params(format!("cannot read {path}: {e}"), None))?;
            let uri = resources::uri_for(path);
            let focus = arg("focus")
                .map(|f| format!(" Pay particular attention to: {f}."))
                .unwrap_or_default();
            Ok(GetPromptResult::new(vec![
                PromptMessage::new_text(
                    Role::User,
                    format!(
                        "Please review the file `{path}` from my workspace, attached below. \
                         Point out bugs, risky or unclear parts, and suggest concrete fixes \
                         (use edit_file if I ask you to apply them).{focus}"
                    ),
                ),
                PromptMessage::new(
                    Role::User,
                    ContentBlock::Resource(EmbeddedResource::new(resources::contents(
                        &uri, path, bytes,
                    ))),
                ),
            ])
            .with_description(format!("Review of {path}")))
        }
        "summarize_notes" => {
            let scope = arg("topic")
                .map(|t| format!("about \"{t}\" (call `recall` with that query)"))
                .unwrap_or_else(|| "(call `recall` with a broad query, or several)".to_owned());
            Ok(GetPromptResult::new(vec![PromptMessage::new_text(
                Role::User,
                format!(
                    "Look up the notes you have stored for me {scope}, then give me a short \
                     summary grouped by theme, and point out notes that look outdated or \
                     contradict each other."
                ),
            )])
            .with_description("Summary of your notes"))
        }
        other => Err(ErrorData::invalid_params(
            format!("no prompt named {other}: use review_file or summarize_notes"),
            None,
        )),
    }
}
