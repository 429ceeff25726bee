//! The fixture tools the conformance scenarios call (`test_simple_text`, `test_image_content`,
//! logging, progress, elicitation, sampling, …) and the one dispatcher that answers them.

use super::*;

fn empty_schema() -> Arc<serde_json::Map<String, Value>> {
    Arc::new(
        json!({ "type": "object", "properties": {} })
            .as_object()
            .cloned()
            .unwrap_or_default(),
    )
}

fn tool(name: &'static str, description: &'static str) -> Tool {
    Tool::new(name, description, empty_schema())
}

fn tool_with(name: &'static str, description: &'static str, schema: Value) -> Tool {
    Tool::new(
        name,
        description,
        Arc::new(schema.as_object().cloned().unwrap_or_default()),
    )
}

fn text(message: impl Into<String>) -> CallToolResponse {
    CallToolResult::success(vec![ContentBlock::text(message)]).into()
}

pub(super) fn tools() -> Vec<Tool> {
    let mut tools = vec![
        tool("test_simple_text", "Returns a text block"),
        tool("test_image_content", "Returns an image block"),
        tool("test_audio_content", "Returns an audio block"),
        tool("test_embedded_resource", "Returns an embedded resource"),
        tool(
            "test_multiple_content_types",
            "Returns text, image and resource blocks",
        ),
        tool("test_tool_with_logging", "Sends log messages while running"),
        tool(
            "test_logging_tool",
            "Sends a log message (only if the request asked for logs)",
        ),
        tool("test_error_handling", "Always fails as a tool error"),
        tool("test_tool_with_progress", "Reports progress while running"),
        tool_with(
            "test_sampling",
            "Asks the client's model a question",
            json!({ "type": "object", "properties": { "prompt": { "type": "string" } }, "required": ["prompt"] }),
        ),
        tool_with(
            "test_elicitation",
            "Asks the user for input",
            json!({ "type": "object", "properties": { "message": { "type": "string" } }, "required": ["message"] }),
        ),
        tool(
            "test_elicitation_sep1034_defaults",
            "Elicitation with default values",
        ),
        tool(
            "test_elicitation_sep1330_enums",
            "Elicitation with enum schemas",
        ),
        tool(
            "test_missing_capability",
            "Needs the client's sampling capability",
        ),
        tool("test_trigger_tool_change", "Announces a tool list change"),
        tool(
            "test_trigger_prompt_change",
            "Announces a prompt list change",
        ),
        tool("test_reconnection", "Answers after a short pause"),
        tool(
            "test_streaming_elicitation",
            "Needs user input: asks through input_required (2026) or elicitation (2025)",
        ),
    ];
    for name in [
        "test_input_required_result_elicitation",
        "test_input_required_result_sampling",
        "test_input_required_result_list_roots",
        "test_input_required_result_request_state",
        "test_input_required_result_multiple_inputs",
        "test_input_required_result_multi_round",
        "test_input_required_result_tampered_state",
        "test_input_required_result_capabilities",
    ] {
        tools.push(tool(name, "Multi-round-trip fixture (SEP-2322)"));
    }
    tools
}

/// Whether this request may carry `notifications/message`: a legacy session always (after
/// `logging/setLevel`), a 2026 request only if it set `_meta` logLevel.
fn may_log(context: &RequestContext<RoleServer>) -> bool {
    let modern = context
        .protocol_version()
        .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28);
    !modern || context.meta.log_level().is_some()
}

async fn log(context: &RequestContext<RoleServer>, message: &str) {
    if may_log(context) {
        let _ = context
            .peer
            .notify_logging_message(
                LoggingMessageNotificationParam::new(LoggingLevel::Info, json!(message))
                    .with_logger("roost-conformance"),
            )
            .await;
    }
}

async fn elicit(
    context: &RequestContext<RoleServer>,
    message: &str,
    schema: Value,
) -> CallToolResponse {
    let params = json!({ "mode": "form", "message": message, "requestedSchema": schema });
    let params = match serde_json::from_value(params) {
        Ok(params) => params,
        Err(e) => return CallToolResult::error(vec![ContentBlock::text(e.to_string())]).into(),
    };
    match context.peer.create_elicitation(params).await {
        Ok(result) => text(format!(
            "Elicitation finished: {}",
            serde_json::to_string(&result).unwrap_or_default()
        )),
        Err(e) => {
            CallToolResult::error(vec![ContentBlock::text(format!("elicitation failed: {e}"))])
                .into()
        }
    }
}

impl Fixtures {
    pub(super) async fn call(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let capabilities = context.client_capabilities();
        if let Some(response) = self.mrtr.call(
            &request.name,
            request.input_responses.as_ref(),
            request.request_state.as_deref(),
            capabilities.as_ref(),
        ) {
            return response;
        }
        let args = request.arguments.clone().unwrap_or_default();
        Ok(match request.name.as_ref() {
            "test_simple_text" => text("This is a simple text response for testing."),
            "test_image_content" => {
                CallToolResult::success(vec![ContentBlock::image(PNG, "image/png")]).into()
            }
            "test_audio_content" => CallToolResult::success(vec![ContentBlock::Audio(
                AudioContent::new(WAV, "audio/wav"),
            )])
            .into(),
            "test_embedded_resource" => CallToolResult::success(vec![ContentBlock::resource(
                ResourceContents::text("This is an embedded resource content.", "test://embedded-resource"),
            )])
            .into(),
            "test_multiple_content_types" => CallToolResult::success(vec![
                ContentBlock::text("Multiple content types test:"),
                ContentBlock::image(PNG, "image/png"),
                ContentBlock::resource(
                    ResourceContents::text(r#"{"test":"data","value":123}"#, "test://mixed-content-resource")
                        .with_mime_type("application/json"),
                ),
            ])
            .into(),
            "test_tool_with_logging" | "test_logging_tool" => {
                for message in ["Tool execution started", "Tool processing data", "Tool execution completed"] {
                    log(&context, message).await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                text("Logging test completed")
            }
            "test_error_handling" => CallToolResult::error(vec![ContentBlock::text(
                "This tool intentionally returns an error for testing",
            )])
            .into(),
            "test_tool_with_progress" => {
                let token = context.meta.get_progress_token();
                for (done, message) in [(0.0, "Starting"), (50.0, "Halfway"), (100.0, "Complete")] {
                    if let Some(token) = &token {
                        let _ = context
                            .peer
                            .notify_progress(
                                ProgressNotificationParam::new(token.clone(), done)
                                    .with_total(100.0)
                                    .with_message(message),
                            )
                            .await;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                text("Progress test completed")
            }
            "test_sampling" => {
                let prompt = args.get("prompt").and_then(Value::as_str).unwrap_or("Hello");
                let params = serde_json::from_value(json!({
                    "messages": [{ "role": "user", "content": { "type": "text", "text": prompt } }],
                    "maxTokens": 100
                }))
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
                match context.peer.create_message(params).await {
                    Ok(result) => text(format!(
                        "LLM response: {}",
                        serde_json::to_value(&result.message)
                            .ok()
                            .and_then(|m| m["content"]["text"].as_str().map(str::to_owned))
                            .unwrap_or_default()
                    )),
                    Err(e) => CallToolResult::error(vec![ContentBlock::text(format!("sampling failed: {e}"))]).into(),
                }
            }
            "test_elicitation" => {
                let message = args.get("message").and_then(Value::as_str).unwrap_or("Please provide your information");
                elicit(&context, message, json!({
                    "type": "object",
                    "properties": {
                        "username": { "type": "string", "description": "User's response" },
                        "email": { "type": "string", "description": "User's email address" }
                    },
                    "required": ["username", "email"]
                }))
                .await
            }
            "test_elicitation_sep1034_defaults" => {
                elicit(&context, "Please provide values (all have defaults)", json!({
                    "type": "object",
                    "properties": {
                        "name": { "type": "string", "default": "John Doe" },
                        "age": { "type": "integer", "default": 30 },
                        "score": { "type": "number", "default": 95.5 },
                        "status": { "type": "string", "enum": ["active", "inactive", "pending"], "default": "active" },
                        "verified": { "type": "boolean", "default": true }
                    }
                }))
                .await
            }
            "test_elicitation_sep1330_enums" => {
                elicit(&context, "Choose options", json!({
                    "type": "object",
                    "properties": {
                        "untitledSingle": { "type": "string", "enum": ["option1", "option2", "option3"] },
                        "titledSingle": { "type": "string", "oneOf": [
                            { "const": "value1", "title": "First Option" },
                            { "const": "value2", "title": "Second Option" },
                            { "const": "value3", "title": "Third Option" }
                        ] },
                        "legacyEnum": { "type": "string", "enum": ["opt1", "opt2", "opt3"],
                                        "enumNames": ["Option One", "Option Two", "Option Three"] },
                        "untitledMulti": { "type": "array", "items": { "type": "string", "enum": ["option1", "option2", "option3"] } },
                        "titledMulti": { "type": "array", "items": { "anyOf": [
                            { "const": "value1", "title": "First Choice" },
                            { "const": "value2", "title": "Second Choice" },
                            { "const": "value3", "title": "Third Choice" }
                        ] } }
                    }
                }))
                .await
            }
            "test_missing_capability" => {
                // 2026-07-28: a server must not rely on an undeclared client capability.
                if capabilities.as_ref().is_none_or(|c| c.sampling.is_none()) {
                    let required: ClientCapabilities = serde_json::from_value(json!({ "sampling": {} }))
                        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
                    return Err(ErrorData::missing_required_client_capability(required));
                }
                text("The client declared sampling")
            }
            "test_trigger_tool_change" => {
                let _ = self.changes.send(ListChange::Tools);
                text("Tool list change announced")
            }
            "test_trigger_prompt_change" => {
                let _ = self.changes.send(ListChange::Prompts);
                text("Prompt list change announced")
            }
            // 2026-07-28 forbids server requests on response streams: ask via MRTR instead.
            "test_streaming_elicitation" => {
                let name = "test_input_required_result_elicitation";
                return self
                    .mrtr
                    .call(name, request.input_responses.as_ref(), None, None)
                    .unwrap_or_else(|| Ok(text("no input needed")));
            }
            "test_reconnection" => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                text("Reconnection test completed")
            }
            other => {
                return Err(ErrorData::invalid_params(format!("unknown tool {other}"), None));
            }
        })
    }
}
