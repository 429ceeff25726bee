// End-to-end client for roost-workspace: connect over Streamable HTTP with a bearer token, list
// the tools, write a file and read it back. Prints one JSON object on stdout.
//
// env: MCP_URL, MCP_TOKEN, MCP_SDK = "v1" (@modelcontextprotocol/sdk, speaks 2025-11-25)
//                                 | "v2" (@modelcontextprotocol/client, speaks 2026-07-28)
const { MCP_URL, MCP_TOKEN, MCP_SDK = "v1" } = process.env;
if (!MCP_URL || !MCP_TOKEN) throw new Error("set MCP_URL and MCP_TOKEN");

const { Client, StreamableHTTPClientTransport } =
  MCP_SDK === "v2"
    ? await import("@modelcontextprotocol/client")
    : {
        ...(await import("@modelcontextprotocol/sdk/client/index.js")),
        ...(await import("@modelcontextprotocol/sdk/client/streamableHttp.js")),
      };

const transport = new StreamableHTTPClientTransport(new URL(MCP_URL), {
  requestInit: { headers: { Authorization: `Bearer ${MCP_TOKEN}` } },
});
// v2 probes with `server/discover` and picks the 2026-07-28 era when the server offers it,
// falling back to `initialize` otherwise — what a real 2026 client does.
const options = MCP_SDK === "v2" ? { capabilities: {}, versionNegotiation: { mode: "auto" } } : { capabilities: {} };
const client = new Client({ name: `roost-e2e-${MCP_SDK}`, version: "1.0.0" }, options);
await client.connect(transport);

const { tools } = await client.listTools();
const written = await client.callTool({
  name: "write_file",
  arguments: { path: `e2e-${MCP_SDK}.txt`, content: `hello from ${MCP_SDK}\n` },
});
const read = await client.callTool({ name: "read_file", arguments: { path: `e2e-${MCP_SDK}.txt` } });

console.log(
  JSON.stringify({
    protocolVersion: transport.protocolVersion ?? null,
    sessionId: transport.sessionId ?? null,
    server: client.getServerVersion?.() ?? null,
    tools: tools.map((t) => t.name),
    writeIsError: written.isError ?? false,
    readIsError: read.isError ?? false,
    readText: read.content.map((c) => c.text ?? "").join(""),
  }),
);
await client.close();
