// End-to-end client for the router tests: connect to the MCP URL (through flylocal's edge, so
// through the router's fly-replay) with a bearer token, call one tool, print its result as JSON.
//
// env: MCP_URL, MCP_TOKEN, TOOL (tool name), ARGS (JSON object of arguments),
//      ARGS_CONTENT_BYTES (optional: add `content` of that many "x" characters to ARGS, for
//      bodies larger than the 1 MiB Fly's proxy can replay)
const { MCP_URL, MCP_TOKEN, TOOL, ARGS = "{}", ARGS_CONTENT_BYTES } = process.env;
if (!MCP_URL || !MCP_TOKEN || !TOOL) throw new Error("set MCP_URL, MCP_TOKEN and TOOL");

const { Client } = await import("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = await import("@modelcontextprotocol/sdk/client/streamableHttp.js");

const args = JSON.parse(ARGS);
if (ARGS_CONTENT_BYTES) args.content = "x".repeat(Number(ARGS_CONTENT_BYTES));

const transport = new StreamableHTTPClientTransport(new URL(MCP_URL), {
  requestInit: { headers: { Authorization: `Bearer ${MCP_TOKEN}` } },
});
const client = new Client({ name: "roost-e2e-router", version: "1.0.0" }, { capabilities: {} });
await client.connect(transport);
const result = await client.callTool({ name: TOOL, arguments: args });
console.log(
  JSON.stringify({
    isError: result.isError ?? false,
    text: result.content.map((c) => c.text ?? "").join(""),
    structured: result.structuredContent ?? null,
  }),
);
await client.close();
