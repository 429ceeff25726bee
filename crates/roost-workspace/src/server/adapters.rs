//! The `#[tool]` adapters: the names, descriptions and annotations the model sees, each a thin
//! call into [`crate::tools`].
//!
//! Annotations are hints a client uses to decide what to ask the user before a call, so they
//! are set to what the tool really does (MCP 2025-11-25 §Tools "Tool annotations"): reading tools
//! are `read_only`; anything that overwrites or removes data is `destructive`; `idempotent` means
//! "calling again with the same arguments changes nothing more".

use rmcp::{
    RoleServer,
    handler::server::wrapper::Parameters,
    model::{CallToolResult, ContentBlock},
    service::RequestContext,
    tool, tool_router,
};
use serde::Serialize;

use super::Workspace;
use crate::tools::{
    command::RunArgs,
    files::{DeleteArgs, EditArgs, ListArgs, MoveArgs, ReadArgs, SearchArgs, WriteArgs},
    notes::{ForgetArgs, RecallArgs, RememberArgs},
};

/// A tool's typed output as a result: JSON in `structuredContent` and as text.
fn output<T: Serialize, E: std::fmt::Display>(result: Result<T, E>) -> CallToolResult {
    match result.map(|out| serde_json::to_value(&out)) {
        Ok(Ok(value)) => CallToolResult::structured(value),
        Ok(Err(e)) => CallToolResult::error(vec![ContentBlock::text(format!(
            "the tool's result could not be encoded: {e}"
        ))]),
        // The error text is written for the model: it says what was wrong and what to do.
        Err(e) => CallToolResult::error(vec![ContentBlock::text(e.to_string())]),
    }
}

#[tool_router(vis = "pub")]
impl Workspace {
    #[tool(
        description = "Read a text file from the workspace. Returns the content of a line range \
                       (default: from the start, up to the size cap) and where to continue if it \
                       was cut. Paths are relative to the workspace root.",
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn read_file(&self, Parameters(args): Parameters<ReadArgs>) -> CallToolResult {
        output(self.files().read(args).await)
    }

    #[tool(
        description = "Create or replace a file in the workspace with the given content \
                       (atomic: readers never see a half-written file). Parent folders are \
                       created as needed.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn write_file(&self, Parameters(args): Parameters<WriteArgs>) -> CallToolResult {
        output(self.files().write(args).await)
    }

    #[tool(
        description = "Edit a workspace file by replacing an exact string with another. Fails \
                       if the string is absent or appears more than once (include more context \
                       to make it unique), unless replacing all occurrences is requested.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn edit_file(&self, Parameters(args): Parameters<EditArgs>) -> CallToolResult {
        output(self.files().edit(args).await)
    }

    #[tool(
        description = "List the files and folders in a workspace folder (default: the root), \
                       optionally recursively, with sizes.",
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn list_files(&self, Parameters(args): Parameters<ListArgs>) -> CallToolResult {
        output(self.files().list(args).await)
    }

    #[tool(
        description = "Search the contents of workspace files with a regular expression. \
                       Returns matching lines with file paths and line numbers.",
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn search_files(&self, Parameters(args): Parameters<SearchArgs>) -> CallToolResult {
        output(self.files().search(args).await)
    }

    #[tool(
        description = "Move or rename a file or folder inside the workspace. Refuses to replace \
                       an existing destination unless overwrite is set.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn move_file(&self, Parameters(args): Parameters<MoveArgs>) -> CallToolResult {
        output(self.files().r#move(args).await)
    }

    #[tool(
        description = "Delete a file (or, with recursive, a folder and everything in it) from \
                       the workspace. This cannot be undone.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn delete_file(&self, Parameters(args): Parameters<DeleteArgs>) -> CallToolResult {
        output(self.files().delete(args).await)
    }

    #[tool(
        description = "Run a shell command (sh -c) in the workspace folder and return its exit \
                       code, stdout and stderr (capped). It is killed after its timeout. It can \
                       change any file in the workspace and reach the network. Needs the \
                       roost:run scope.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn run_command(
        &self,
        Parameters(args): Parameters<RunArgs>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        // The request's token is cancelled when the client cancels or disconnects (2026-07-28)
        // and when the server stops: the command's process group is then killed.
        output(self.commands().run(args, context.ct.clone()).await)
    }

    #[tool(
        description = "Remember a short note for later conversations (facts, preferences, \
                       decisions). Returns the note's id.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn remember(&self, Parameters(args): Parameters<RememberArgs>) -> CallToolResult {
        output(self.notes().remember(args).await)
    }

    #[tool(
        description = "Find remembered notes by full-text search (words, prefixes with *, \
                       phrases in quotes). Best matches first.",
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn recall(&self, Parameters(args): Parameters<RecallArgs>) -> CallToolResult {
        output(self.notes().recall(args).await)
    }

    #[tool(
        description = "Forget (delete) a remembered note by its id.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn forget(&self, Parameters(args): Parameters<ForgetArgs>) -> CallToolResult {
        output(self.notes().forget(args).await)
    }
}
