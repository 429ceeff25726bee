//! The MCP handler: what a client sees on `/mcp` — tools, resources, prompts, subscriptions.
//!
//! rmcp builds one [`Workspace`] per legacy session and one per stateless (2026-07-28) request,
//! so the value is a cheap clone of shared [`Services`] plus the per-session set of
//! `resources/subscribe` URIs. Tool calls go through [`ToolRouter`], which an operator can
//! extend with their own tools (see the crate docs and `docs/workspace.md`).

mod adapters;
pub mod changes;
pub mod prompts;
pub mod resources;

use std::{sync::Arc, time::Instant};

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    handler::server::{router::tool::ToolRouter, tool::ToolCallContext},
    model::{
        CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
        GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
        ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
        ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities,
        ServerConfig, SubscribeRequestParams, SubscriptionFilter, Tool, UnsubscribeRequestParams,
    },
    service::{NotificationContext, RequestContext, SubscriptionContext},
};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::{
    auth::{Principal, required_scopes},
    metrics,
    tools::{command::CommandRunner, files::Files, notes::Notes},
};
use changes::{Change, ChangeHub, SessionSubscriptions};

/// Instructions sent to clients at `initialize` / `server/discover`.
const INSTRUCTIONS: &str = "Your personal roost workspace: a private folder of files you can \
read, write, edit, search and organise, a shell to run commands in it (if you granted the \
roost:run scope), and notes you can remember and recall across conversations. Paths are \
relative to the workspace root. Files are also available as workspace:/// resources.";

/// The handles every request shares.
pub struct Services {
    /// The user's files, confined to `<data dir>/workspace`.
    pub files: Files,
    /// Shell commands in the workspace folder.
    pub commands: CommandRunner,
    /// Remembered notes.
    pub notes: Notes,
    /// File-change fan-out to subscribed clients.
    pub changes: ChangeHub,
    /// Cancelled when the server starts draining: open `subscriptions/listen` streams then end
    /// with their final result (2026-07-28 subscriptions: graceful teardown).
    pub draining: CancellationToken,
}

/// The MCP server handler of one user's workspace.
#[derive(Clone)]
pub struct Workspace {
    tools: ToolRouter<Workspace>,
    services: Arc<Services>,
    subscriptions: SessionSubscriptions,
}

impl Workspace {
    /// A handler over `services` exposing `tools` (start from [`Workspace::builtin_tools`]).
    pub fn new(services: Arc<Services>, tools: ToolRouter<Workspace>) -> Self {
        Self {
            tools,
            services,
            subscriptions: SessionSubscriptions::default(),
        }
    }

    /// The built-in tools (files, `run_command`, notes). Add your own routes to this router
    /// (e.g. `ToolRouter::with_async_tool`) and pass it to [`crate::run_with_tools`].
    pub fn builtin_tools() -> ToolRouter<Workspace> {
        Self::tool_router()
    }

    /// The user's files.
    pub fn files(&self) -> &Files {
        &self.services.files
    }

    /// The command runner.
    pub fn commands(&self) -> &CommandRunner {
        &self.services.commands
    }

    /// The notes store.
    pub fn notes(&self) -> &Notes {
        &self.services.notes
    }

    /// Tell subscribed clients that a workspace file changed (call this from your own tools
    /// when they write files).
    pub fn publish_change(&self, change: Change) {
        self.services.changes.publish(change);
    }
}

/// The authenticated caller of the current request (set by the token gate).
pub fn principal(context: &RequestContext<RoleServer>) -> Option<Principal> {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Principal>())
        .cloned()
}

/// Cache hints (`ttlMs`, `cacheScope`) exist from 2026-07-28 on.
fn supports_cache_hints(context: &RequestContext<RoleServer>) -> bool {
    context
        .protocol_version()
        .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28)
}

/// Which resources a successful tool call changed, read from its structured output.
fn changes_of(tool: &str, result: &CallToolResult) -> Vec<Change> {
    let Some(out) = &result.structured_content else {
        return Vec::new();
    };
    let uri = |key: &str| {
        out.get(key)
            .and_then(|v| v.as_str())
            .map(resources::uri_for)
    };
    match tool {
        "write_file" => uri("path")
            .map(|u| vec![Change::Updated(u), Change::ListChanged])
            .unwrap_or_default(),
        "edit_file" => uri("path")
            .map(|u| vec![Change::Updated(u)])
            .unwrap_or_default(),
        "move_file" => [uri("from"), uri("to")]
            .into_iter()
            .flatten()
            .map(Change::Updated)
            .chain([Change::ListChanged])
            .collect(),
        "delete_file" => uri("path")
            .map(|u| vec![Change::Updated(u), Change::ListChanged])
            .unwrap_or_default(),
        // A shell command can change anything; the list is the one thing worth refreshing.
        "run_command" => vec![Change::ListChanged],
        _ => Vec::new(),
    }
}

impl ServerHandler for Workspace {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_resources_list_changed()
                .enable_prompts()
                .build(),
        )
        .with_server_info(
            Implementation::new("roost-workspace", env!("CARGO_PKG_VERSION"))
                .with_title("roost workspace"),
        )
        .with_instructions(INSTRUCTIONS)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let tool = request.name.to_string();
        // Defence in depth: the gate already refused a token without the scope; this holds even
        // if the handler is mounted behind another gate.
        if let Some(principal) = principal(&context) {
            let needed = required_scopes("tools/call", Some(&tool));
            if let Some(missing) = needed.iter().find(|s| !principal.has_scope(s)) {
                return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                    "{tool} needs the {missing} scope, which your access token does not grant"
                ))])
                .into());
            }
        }
        let started = Instant::now();
        let response = self
            .tools
            .call(ToolCallContext::new(self, request, context))
            .await;
        let outcome = match &response {
            Ok(CallToolResponse::Complete(result)) if result.is_error == Some(true) => "error",
            Ok(_) => "ok",
            Err(_) => "protocol_error",
        };
        metrics::tool_call(&tool, outcome, started.elapsed().as_secs_f64());
        if let Ok(CallToolResponse::Complete(result)) = &response
            && result.is_error != Some(true)
        {
            for change in changes_of(&tool, result) {
                self.services.changes.publish(change);
            }
        }
        response
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        // Show a tool only if the caller's token may call it: the list depends on the token,
        // so it is per-user (private) for caches too.
        let principal = principal(&context);
        let tools: Vec<Tool> = self
            .tools
            .list_all()
            .into_iter()
            .filter(|t| {
                principal.as_ref().is_none_or(|p| {
                    required_scopes("tools/call", Some(&t.name))
                        .iter()
                        .all(|s| p.has_scope(s))
                })
            })
            .collect();
        let mut result = ListToolsResult::with_all_items(tools);
        if supports_cache_hints(&context) {
            result = result.with_ttl_ms(0).with_cache_scope(CacheScope::Private);
        }
        Ok(result)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.get(name).cloned()
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        let mut result = resources::list(self.files(), cursor).await?;
        if !supports_cache_hints(&context) {
            result.ttl_ms = None;
            result.cache_scope = None;
        }
        Ok(result)
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let mut result = resources::templates();
        if !supports_cache_hints(&context) {
            result.ttl_ms = None;
            result.cache_scope = None;
        }
        Ok(result)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let mut result = resources::read(self.files(), &request.uri).await?;
        if !supports_cache_hints(&context) {
            result.ttl_ms = None;
            result.cache_scope = None;
        }
        Ok(result.into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let mut result = prompts::list();
        if supports_cache_hints(&context) {
            // The prompt list is the same for everyone.
            result = result.with_ttl_ms(0).with_cache_scope(CacheScope::Public);
        }
        Ok(result)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        Ok(
            prompts::get(self.files(), &request.name, request.arguments.as_ref())
                .await?
                .into(),
        )
    }

    #[allow(deprecated)] // legacy-only method, still needed for ≤ 2025-11-25 clients
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if resources::path_of(&request.uri).is_none() {
            return Err(ErrorData::invalid_params(
                format!(
                    "cannot subscribe to {}: not a workspace:/// resource",
                    request.uri
                ),
                None,
            ));
        }
        self.subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(request.uri);
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&request.uri);
        Ok(())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.services
            .changes
            .add_session(context.peer.clone(), self.subscriptions.clone());
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        // rmcp intersects this with the advertised capabilities (no tool/prompt list changes).
        Some(requested.clone())
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let mut changes = self.services.changes.subscribe_all();
        let wants_list = context.accepted().resources_list_changed == Some(true);
        loop {
            let change = tokio::select! {
                () = context.cancelled() => return Ok(()),
                // Returning Ok sends the final listen result: a graceful end for the client.
                () = self.services.draining.cancelled() => return Ok(()),
                change = changes.recv() => change,
            };
            let sent = match change {
                Ok(Change::Updated(uri)) => {
                    let subscribed = context
                        .accepted()
                        .resource_subscriptions
                        .as_ref()
                        .is_some_and(|uris| uris.contains(&uri));
                    if !subscribed {
                        continue;
                    }
                    context.sink().notify_resource_updated(uri).await
                }
                Ok(Change::ListChanged) if wants_list => {
                    context.sink().notify_resource_list_changed().await
                }
                Ok(Change::ListChanged) => continue,
                // A burst larger than the channel: the client re-reads anyway on the next one.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return Ok(()),
            };
            if let Err(error) = sent {
                tracing::debug!(%error, "subscription stream closed");
                return Ok(());
            }
        }
    }
}
