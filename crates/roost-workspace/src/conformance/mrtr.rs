//! Multi-round-trip (SEP-2322, 2026-07-28) fixtures: tools that answer `input_required` and
//! complete once the client retries with `inputResponses` (and the sealed `requestState`).
//!
//! `requestState` is client-held, so it is sealed with rmcp's HMAC [`RequestStateCodec`]: a
//! tampered state is refused with `-32602`, as the tampered-state scenario requires.

use rmcp::ErrorData;
use rmcp::model::{
    CallToolResponse, CallToolResult, ClientCapabilities, ContentBlock, GetPromptResponse,
    GetPromptResult, InputRequiredResult, InputResponses, PromptMessage, RequestStateCodec, Role,
};
use serde_json::{Value, json};

fn elicit(message: &str, field: &str, kind: &str) -> Value {
    json!({
        "method": "elicitation/create",
        "params": {
            "message": message,
            "requestedSchema": {
                "type": "object",
                "properties": { field: { "type": kind } },
                "required": [field]
            }
        }
    })
}

fn sample(text: &str, max_tokens: u32) -> Value {
    json!({
        "method": "sampling/createMessage",
        "params": {
            "messages": [{ "role": "user", "content": { "type": "text", "text": text } }],
            "maxTokens": max_tokens
        }
    })
}

fn roots() -> Value {
    json!({ "method": "roots/list", "params": {} })
}

fn input_required(requests: Value, state: Option<String>) -> InputRequiredResult {
    let mut value = json!({ "resultType": "input_required", "inputRequests": requests });
    if let Some(state) = state {
        value["requestState"] = json!(state);
    }
    serde_json::from_value(value).expect("fixture input requests are well-formed")
}

fn text(message: impl Into<String>) -> CallToolResponse {
    CallToolResult::success(vec![ContentBlock::text(message)]).into()
}

/// An accepted elicitation response's `content[field]`, if the response has that shape.
fn elicited(responses: &InputResponses, key: &str, field: &str) -> Option<String> {
    let response = responses.get(key)?.as_object()?;
    let content = response.get("content")?.as_object()?;
    content.get(field).map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// The MRTR fixture tools.
pub struct Mrtr {
    codec: RequestStateCodec,
}

impl Mrtr {
    /// Fixtures sealing state with a fresh random key.
    pub fn new() -> Self {
        use std::io::Read;
        let mut key = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut key))
            .expect("reading /dev/urandom");
        Self {
            codec: RequestStateCodec::try_new(key.to_vec()).expect("32-byte key"),
        }
    }

    fn seal(&self, stage: &str) -> String {
        self.codec.seal(stage.as_bytes())
    }

    /// The stage a sealed state names; a tampered state is a protocol error.
    fn open(&self, state: Option<&str>) -> Result<Option<String>, ErrorData> {
        state
            .map(|s| {
                self.codec
                    .open(s)
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                    .map_err(|_| {
                        ErrorData::invalid_params("requestState failed its integrity check", None)
                    })
            })
            .transpose()
    }

    /// Handle an MRTR fixture tool, or `None` if `name` is not one.
    pub fn call(
        &self,
        name: &str,
        responses: Option<&InputResponses>,
        state: Option<&str>,
        capabilities: Option<&ClientCapabilities>,
    ) -> Option<Result<CallToolResponse, ErrorData>> {
        let empty = InputResponses::new();
        let responses = responses.unwrap_or(&empty);
        Some(match name {
            "test_input_required_result_elicitation" => {
                Ok(match elicited(responses, "user_name", "name") {
                    Some(name) => text(format!("Hello, {name}!")),
                    None => input_required(
                        json!({ "user_name": elicit("What is your name?", "name", "string") }),
                        None,
                    )
                    .into(),
                })
            }
            "test_input_required_result_sampling" => Ok(match responses.get("capital_question") {
                Some(answer) => {
                    let said = answer["content"]["text"].as_str().unwrap_or("(no text)");
                    text(format!("The model said: {said}"))
                }
                None => input_required(
                    json!({ "capital_question": sample("What is the capital of France?", 100) }),
                    None,
                )
                .into(),
            }),
            "test_input_required_result_list_roots" => Ok(match responses.get("client_roots") {
                Some(list) => {
                    let uris: Vec<&str> = list["roots"]
                        .as_array()
                        .map(|r| r.iter().filter_map(|x| x["uri"].as_str()).collect())
                        .unwrap_or_default();
                    text(format!("Client roots: {}", uris.join(", ")))
                }
                None => input_required(json!({ "client_roots": roots() }), None).into(),
            }),
            "test_input_required_result_request_state"
            | "test_input_required_result_tampered_state" => {
                self.stateful_confirm(responses, state)
            }
            "test_input_required_result_multiple_inputs" => {
                let stage = match self.open(state) {
                    Ok(stage) => stage,
                    Err(e) => return Some(Err(e)),
                };
                let all = ["user_name", "greeting", "client_roots"]
                    .iter()
                    .all(|k| responses.contains_key(*k));
                Ok(if all && stage.as_deref() == Some("multiple") {
                    text("Received all inputs: user_name, greeting, client_roots")
                } else {
                    input_required(
                        json!({
                            "user_name": elicit("What is your name?", "name", "string"),
                            "greeting": sample("Generate a greeting", 50),
                            "client_roots": roots(),
                        }),
                        Some(self.seal("multiple")),
                    )
                    .into()
                })
            }
            "test_input_required_result_multi_round" => {
                let stage = match self.open(state) {
                    Ok(stage) => stage,
                    Err(e) => return Some(Err(e)),
                };
                Ok(match (stage.as_deref(), responses) {
                    (Some("round-2"), r) if elicited(r, "step2", "color").is_some() => {
                        let name = elicited(r, "step1", "name").unwrap_or_default();
                        let color = elicited(r, "step2", "color").unwrap_or_default();
                        text(format!("Done after two rounds {name} {color}").trim().to_owned())
                    }
                    (Some("round-1"), r) if elicited(r, "step1", "name").is_some() => {
                        input_required(
                            json!({ "step2": elicit("Step 2: What is your favorite color?", "color", "string") }),
                            Some(self.seal("round-2")),
                        )
                        .into()
                    }
                    _ => input_required(
                        json!({ "step1": elicit("Step 1: What is your name?", "name", "string") }),
                        Some(self.seal("round-1")),
                    )
                    .into(),
                })
            }
            "test_input_required_result_capabilities" => {
                if !responses.is_empty() {
                    return Some(Ok(text("Completed with the inputs the client supports")));
                }
                let caps = capabilities.cloned().unwrap_or_default();
                let mut requests = serde_json::Map::new();
                if caps.elicitation.is_some() {
                    requests.insert(
                        "user_name".into(),
                        elicit("What is your name?", "name", "string"),
                    );
                }
                if caps.sampling.is_some() {
                    requests.insert("greeting".into(), sample("Generate a greeting", 50));
                }
                if caps.roots.is_some() {
                    requests.insert("client_roots".into(), roots());
                }
                Ok(if requests.is_empty() {
                    text("The client supports no input requests; nothing to ask")
                } else {
                    input_required(Value::Object(requests), None).into()
                })
            }
            _ => return None,
        })
    }

    fn stateful_confirm(
        &self,
        responses: &InputResponses,
        state: Option<&str>,
    ) -> Result<CallToolResponse, ErrorData> {
        let stage = self.open(state)?;
        Ok(
            if stage.as_deref() == Some("confirm") && responses.contains_key("confirm") {
                text("state-ok: the request state was verified")
            } else {
                input_required(
                    json!({ "confirm": elicit("Please confirm", "ok", "boolean") }),
                    Some(self.seal("confirm")),
                )
                .into()
            },
        )
    }

    /// `prompts/get` for `test_input_required_result_prompt`.
    pub fn prompt(&self, responses: Option<&InputResponses>) -> GetPromptResponse {
        match responses.and_then(|r| elicited(r, "user_context", "context")) {
            Some(context) => GetPromptResult::new(vec![PromptMessage::new_text(
                Role::User,
                format!("Use this context: {context}"),
            )])
            .into(),
            None => GetPromptResponse::InputRequired(input_required(
                json!({ "user_context": elicit("What context should the prompt use?", "context", "string") }),
                None,
            )),
        }
    }
}

impl Default for Mrtr {
    fn default() -> Self {
        Self::new()
    }
}
