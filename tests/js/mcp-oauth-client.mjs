// The official TypeScript MCP SDK signing in to roost the way a desktop client does, then using
// the workspace and surviving an access-token expiry:
//
//   POST /mcp → 401 → protected-resource metadata → authorization-server metadata →
//   registration (DCR, or CIMD: the client id is the URL of a metadata document this script
//   serves) → authorization URL (PKCE S256, `resource`, `state`) → the "browser" step (the
//   cookie-keeping form browser signs in on roost's pages and consents) → code (+ `iss`) →
//   token → tools/call on the user's workspace → the access token stops working (this script
//   corrupts it, as expiry would) → the SDK refreshes (rotating the refresh token) → still works.
//
// Prints one JSON object on stdout for the Rust test to assert on.
//
// env:
//   MCP_URL              the roost MCP URL (through flylocal's edge)
//   MCP_SDK              "v1" (@modelcontextprotocol/sdk, 2025-11-25) | "v2" (@modelcontextprotocol/client, 2026-07-28)
//   MCP_REGISTRATION     "dcr" (default) | "cimd"
//   MCP_CIMD_CERT, MCP_CIMD_KEY  PEM files for an HTTPS server for the CIMD document: the SDK
//                        then picks CIMD itself (it only sends HTTPS client ids). Without them
//                        the document is served over plain http on loopback (a router started
//                        for tests may fetch that) and handed to the SDK as the client id, so
//                        the router sees the same authorization and token requests.
//   MCP_SIGNIN_PROVIDER  text of the sign-in choice to take on roost's sign-in page (e.g. "dev",
//                        "OpenID"); omit when the page asks for a username and password directly
//   MCP_LOGIN, MCP_PASSWORD       credentials for the form that asks for them (roost's local
//                        accounts use `username`; the test OpenID provider uses `login`)
//   MCP_LOGIN_FIELD      the username field's name (default: "username")
//   MCP_FILE             workspace file name to write and read back (default: "oauth-<sdk>.txt")
import http from "node:http";
import https from "node:https";
import fs from "node:fs";
import { once } from "node:events";
import { walk, signInChooser } from "./lib/form-browser.mjs";

const env = process.env;
const sdk = env.MCP_SDK ?? "v1";
const registration = env.MCP_REGISTRATION ?? "dcr";
if (!env.MCP_URL) throw new Error("set MCP_URL");

const { Client, StreamableHTTPClientTransport, UnauthorizedError } =
  sdk === "v2"
    ? await import("@modelcontextprotocol/client")
    : {
        ...(await import("@modelcontextprotocol/sdk/client/index.js")),
        ...(await import("@modelcontextprotocol/sdk/client/streamableHttp.js")),
        ...(await import("@modelcontextprotocol/sdk/client/auth.js")),
      };

// A loopback redirect URI, as native clients register (RFC 8252 §7.3). Nothing listens on it:
// the form browser stops at the redirect and hands the query to the SDK.
const redirectUrl = "http://127.0.0.1:53682/callback";
const clientMetadata = {
  client_name: `roost e2e (${sdk}, ${registration})`,
  redirect_uris: [redirectUrl],
  grant_types: ["authorization_code", "refresh_token"],
  response_types: ["code"],
  token_endpoint_auth_method: "none",
  application_type: "native",
};

// CIMD: serve the client's metadata document over HTTPS and use its URL as the client id.
let cimdServer;
let clientMetadataUrl;
let cimdClientId;
if (registration === "cimd") {
  const tls = Boolean(env.MCP_CIMD_CERT && env.MCP_CIMD_KEY);
  cimdServer = tls
    ? https.createServer({ cert: fs.readFileSync(env.MCP_CIMD_CERT), key: fs.readFileSync(env.MCP_CIMD_KEY) })
    : http.createServer();
  cimdServer.listen(0, "127.0.0.1");
  await once(cimdServer, "listening");
  cimdClientId = `${tls ? "https" : "http"}://127.0.0.1:${cimdServer.address().port}/oauth/client.json`;
  if (tls) clientMetadataUrl = cimdClientId;
  const documentUrl = cimdClientId;
  cimdServer.fetches = 0;
  cimdServer.on("request", (req, res) => {
    if (req.url !== "/oauth/client.json") return res.writeHead(404).end();
    cimdServer.fetches++;
    res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=300" });
    res.end(JSON.stringify({ client_id: documentUrl, client_uri: "https://roost.invalid", ...clientMetadata }));
  });
}

/** The client's OAuth state, kept in memory as a desktop client keeps it in its config. */
class Provider {
  authorizationUrl;
  saved = { client: undefined, tokens: undefined, verifier: undefined };
  tokenSaves = 0;
  get redirectUrl() {
    return redirectUrl;
  }
  get clientMetadata() {
    return clientMetadata;
  }
  clientMetadataUrl = clientMetadataUrl;
  state() {
    return crypto.randomUUID();
  }
  clientInformation() {
    return this.saved.client;
  }
  saveClientInformation(info) {
    this.saved.client = info;
  }
  tokens() {
    return this.saved.tokens;
  }
  saveTokens(tokens) {
    this.tokenSaves++;
    this.saved.tokens = tokens;
  }
  redirectToAuthorization(url) {
    this.authorizationUrl = new URL(url);
  }
  saveCodeVerifier(verifier) {
    this.saved.verifier = verifier;
  }
  codeVerifier() {
    return this.saved.verifier;
  }
}

const provider = new Provider();
// Plain-http CIMD: the document's URL is the client id, known before any registration.
if (cimdClientId && !clientMetadataUrl) provider.saved.client = { client_id: cimdClientId };
const options = sdk === "v2" ? { capabilities: {}, versionNegotiation: { mode: "auto" } } : { capabilities: {} };
const connect = async () => {
  const transport = new StreamableHTTPClientTransport(new URL(env.MCP_URL), { authProvider: provider });
  const client = new Client({ name: `roost-e2e-oauth-${sdk}`, version: "1.0.0" }, options);
  await client.connect(transport);
  return { client, transport };
};

// 1. The first connection is refused; the SDK discovers, registers and builds the URL.
const started = performance.now();
const marks = {};
let firstError;
try {
  await connect();
} catch (error) {
  firstError = error;
}
if (!(firstError instanceof UnauthorizedError) || !provider.authorizationUrl) {
  throw new Error(`expected the SDK to ask for authorization, got: ${firstError?.stack ?? "a connection"}`);
}
const authorizationUrl = provider.authorizationUrl;
marks.discoveryAndRegistrationMs = performance.now() - started;

// 2. The "browser": sign in and consent on roost's pages until the redirect back to us.
const credentials = env.MCP_LOGIN
  ? { [env.MCP_LOGIN_FIELD ?? "username"]: env.MCP_LOGIN, password: env.MCP_PASSWORD ?? "" }
  : {};
const { url: callback, pages } = await walk(authorizationUrl.href, {
  isDone: (u) => u.startsWith(redirectUrl),
  choose: signInChooser({ credentials, provider: env.MCP_SIGNIN_PROVIDER }),
});
const callbackParams = new URL(callback).searchParams;
if (callbackParams.get("error")) {
  throw new Error(`authorization refused: ${callbackParams.get("error")}: ${callbackParams.get("error_description")}`);
}

// 3. Code → tokens (the SDK checks `iss` in v2), then use the workspace.
const finishing = new StreamableHTTPClientTransport(new URL(env.MCP_URL), { authProvider: provider });
await (sdk === "v2" ? finishing.finishAuth(callbackParams) : finishing.finishAuth(callbackParams.get("code")));
const firstTokens = { ...provider.saved.tokens };
marks.signedInMs = performance.now() - started;

const file = env.MCP_FILE ?? `oauth-${sdk}-${registration}.txt`;
const { client, transport } = await connect();
const { tools } = await client.listTools();
const written = await client.callTool({ name: "write_file", arguments: { path: file, content: `signed in with ${sdk}\n` } });
const read = await client.callTool({ name: "read_file", arguments: { path: file } });
marks.firstToolCallsMs = performance.now() - started;
await client.close();

// 4. The access token stops working (as when it expires): the SDK gets 401 invalid_token,
//    refreshes with the refresh token, retries, and the user notices nothing.
provider.saved.tokens = { ...provider.saved.tokens, access_token: `${firstTokens.access_token.slice(0, -8)}AAAAAAAA` };
const savesBefore = provider.tokenSaves;
const refreshStarted = performance.now();
const again = await connect();
const readAgain = await again.client.callTool({ name: "read_file", arguments: { path: file } });
marks.reconnectWithRefreshMs = performance.now() - refreshStarted;
await again.client.close();
const secondTokens = provider.saved.tokens;
cimdServer?.close();

const text = (result) => result.content.map((c) => c.text ?? "").join("");
const claims = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());
const firstClaims = claims(firstTokens.access_token);
console.log(
  JSON.stringify({
    sdk,
    registration,
    protocolVersion: transport.protocolVersion ?? null,
    authorizationUrl: {
      origin: authorizationUrl.origin,
      path: authorizationUrl.pathname,
      params: Object.fromEntries(authorizationUrl.searchParams),
    },
    clientId: provider.saved.client?.client_id ?? null,
    cimdFetches: cimdServer?.fetches ?? null,
    pages,
    callback: { state: callbackParams.get("state"), iss: callbackParams.get("iss"), hasCode: callbackParams.has("code") },
    tokenType: firstTokens.token_type,
    hasRefreshToken: Boolean(firstTokens.refresh_token),
    claims: { aud: firstClaims.aud, sub: firstClaims.sub, tenant: firstClaims.tenant, scope: firstClaims.scope, client_id: firstClaims.client_id },
    tools: tools.map((t) => t.name),
    writeIsError: written.isError ?? false,
    readText: text(read),
    refreshed: provider.tokenSaves > savesBefore,
    refreshTokenRotated: Boolean(secondTokens.refresh_token) && secondTokens.refresh_token !== firstTokens.refresh_token,
    accessTokenChanged: secondTokens.access_token !== firstTokens.access_token,
    readAfterRefresh: text(readAgain),
    tenantAfterRefresh: claims(secondTokens.access_token).tenant,
    timings: Object.fromEntries(Object.entries(marks).map(([k, v]) => [k, Math.round(v)])),
  }),
);
