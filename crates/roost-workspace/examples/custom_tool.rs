//! Adding your own tool to roost-workspace: a `word_count` tool next to the built-in ones.
//!
//! Run like the real server (same flags and `ROOST_*` variables):
//! `cargo run -p roost-workspace --example custom_tool -- --tenant … --issuer … --audience …`.
//! The tool gets the token gate, metrics and lifecycle of the built-in tools for free, and works
//! on the same confined workspace through `Workspace::files()`.

use std::borrow::Cow;

use clap::Parser;
use rmcp::{
    ErrorData,
    handler::server::router::tool::{AsyncTool, ToolBase},
};
use roost_workspace::{Config, Workspace, run_with_tools};

/// Counts the words of a workspace file.
struct WordCount;

#[derive(serde::Deserialize, schemars::JsonSchema, Default)]
struct WordCountArgs {
    /// Path of the file, relative to the workspace root.
    path: String,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct WordCountOutput {
    /// Whitespace-separated words in the file.
    words: usize,
}

impl ToolBase for WordCount {
    type Parameter = WordCountArgs;
    type Output = WordCountOutput;
    type Error = ErrorData;

    fn name() -> Cow<'static, str> {
        "word_count".into()
    }

    fn description() -> Option<Cow<'static, str>> {
        Some("Count the words in a workspace file.".into())
    }
}

impl AsyncTool<Workspace> for WordCount {
    async fn invoke(
        workspace: &Workspace,
        args: WordCountArgs,
    ) -> Result<WordCountOutput, ErrorData> {
        let bytes = workspace
            .files()
            .read_bytes(&args.path)
            .await
            .map_err(|e| ErrorData::invalid_params(e.to_string(), None))?;
        let words = String::from_utf8_lossy(&bytes).split_whitespace().count();
        Ok(WordCountOutput { words })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    roost_workspace::init_tracing(config.log_format);
    let tools = Workspace::builtin_tools().with_async_tool::<WordCount>();
    let listener = tokio::net::TcpListener::bind((config.host, config.port)).await?;
    run_with_tools(listener, config, tools, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
