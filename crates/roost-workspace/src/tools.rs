//! The workspace's tools as plain async functions, with typed inputs and outputs.
//!
//! Each area is a cheap `Clone` handle the server holds in its state; the MCP `#[tool]` adapters
//! parse `Parameters<…Args>`, call one method here, and turn an `Err` into a
//! `CallToolResult::error` whose text is the error's `Display`. That text is read by the model,
//! so every error says what was wrong and what to do instead. Nothing here knows about MCP, which
//! keeps the tools unit-testable on their own.
//!
//! - [`files`]: the user's files, confined to `<data dir>/workspace` at the OS level (cap-std).
//! - [`command`]: run a shell command in that folder, with a clean environment, a timeout that
//!   kills the whole process group, and capped output.
//! - [`notes`]: remember / recall / forget short notes, searched with SQLite FTS5.

pub mod command;
pub mod files;
pub mod notes;

#[cfg(test)]
mod tests {
    use schemars::{JsonSchema, schema_for};

    use super::{command, files, notes};

    /// The names of `T`'s properties that have no description in its JSON schema.
    fn undocumented<T: JsonSchema>() -> Vec<String> {
        let schema = schema_for!(T).to_value();
        let properties = schema["properties"].as_object().expect("an object schema");
        assert!(!properties.is_empty());
        properties
            .iter()
            .filter(|(_, p)| p["description"].as_str().is_none_or(str::is_empty))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The model sees each argument's doc comment as its description; none may be missing.
    #[test]
    fn every_tool_argument_is_described_to_the_model() {
        let missing = [
            ("ReadArgs", undocumented::<files::ReadArgs>()),
            ("WriteArgs", undocumented::<files::WriteArgs>()),
            ("EditArgs", undocumented::<files::EditArgs>()),
            ("ListArgs", undocumented::<files::ListArgs>()),
            ("SearchArgs", undocumented::<files::SearchArgs>()),
            ("MoveArgs", undocumented::<files::MoveArgs>()),
            ("DeleteArgs", undocumented::<files::DeleteArgs>()),
            ("RunArgs", undocumented::<command::RunArgs>()),
            ("RememberArgs", undocumented::<notes::RememberArgs>()),
            ("RecallArgs", undocumented::<notes::RecallArgs>()),
            ("ForgetArgs", undocumented::<notes::ForgetArgs>()),
            ("ReadOutput", undocumented::<files::ReadOutput>()),
            ("ListOutput", undocumented::<files::ListOutput>()),
            ("SearchOutput", undocumented::<files::SearchOutput>()),
            ("RunOutput", undocumented::<command::RunOutput>()),
            ("RecallOutput", undocumented::<notes::RecallOutput>()),
            ("Note", undocumented::<notes::Note>()),
        ];
        let missing: Vec<_> = missing.iter().filter(|(_, m)| !m.is_empty()).collect();
        assert!(missing.is_empty(), "undocumented fields: {missing:?}");
    }
}
