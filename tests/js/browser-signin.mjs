// A real browser (Debian chromium driven by playwright-core) signs in to roost with a local
// account (or through an upstream OpenID provider) and clicks the consent button on roost's
// real pages, saving a screenshot of each page (sign-in, [provider sign-in,] consent, done). The OAuth client side is the official SDK's `auth()`: it discovers,
// registers (DCR) and builds the authorization URL, and afterwards exchanges the code, so the
// test proves the browser flow yields working tokens.
//
// Prints one JSON object on stdout: the pages seen (title, URL, screenshot path, what the page
// says about the client, its security headers) and the outcome.
//
// env:
//   MCP_URL          the roost MCP URL
//   MCP_LOGIN, MCP_PASSWORD   a local account (or an account at the upstream provider)
//   SIGNIN_PROVIDER  sign in upstream: the provider's name as the sign-in page shows it
//                    (e.g. "Test IdP"); the provider's own page then gets the credentials
//   SCREENSHOT_DIR   where the PNGs go (created if missing)
//   CHROMIUM         the browser binary (default /usr/bin/chromium)
import fs from "node:fs";
import http from "node:http";
import { once } from "node:events";
import path from "node:path";
import { chromium } from "playwright-core";
import { auth } from "@modelcontextprotocol/sdk/client/auth.js";

const env = process.env;
for (const name of ["MCP_URL", "MCP_LOGIN", "MCP_PASSWORD", "SCREENSHOT_DIR"]) {
  if (!env[name]) throw new Error(`set ${name}`);
}
fs.mkdirSync(env.SCREENSHOT_DIR, { recursive: true });

// The client's loopback redirect listener, as a desktop client runs one (RFC 8252 §7.3).
let callback;
const listener = http.createServer((req, res) => {
  const url = new URL(req.url, "http://127.0.0.1");
  if (url.pathname !== "/callback") return res.writeHead(404).end();
  callback = url;
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end("<!doctype html><title>Client received the code</title><p>The client received the authorization code.</p>");
});
listener.listen(0, "127.0.0.1");
await once(listener, "listening");
const redirectUrl = `http://127.0.0.1:${listener.address().port}/callback`;
const provider = {
  saved: {},
  get redirectUrl() {
    return redirectUrl;
  },
  get clientMetadata() {
    return {
      client_name: "Browser E2E Client",
      redirect_uris: [redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      application_type: "native",
    };
  },
  state() {
    return crypto.randomUUID();
  },
  clientInformation() {
    return this.saved.client;
  },
  saveClientInformation(info) {
    this.saved.client = info;
  },
  tokens() {
    return this.saved.tokens;
  },
  saveTokens(tokens) {
    this.saved.tokens = tokens;
  },
  redirectToAuthorization(url) {
    this.saved.authorizationUrl = new URL(url);
  },
  saveCodeVerifier(verifier) {
    this.saved.verifier = verifier;
  },
  codeVerifier() {
    return this.saved.verifier;
  },
};

const serverUrl = new URL(env.MCP_URL);
if ((await auth(provider, { serverUrl })) !== "REDIRECT") throw new Error("expected the SDK to need a browser sign-in");

const browser = await chromium.launch({
  executablePath: env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const pages = [];
try {
  const context = await browser.newContext({ viewport: { width: 1000, height: 800 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  let lastHeaders = {};
  page.on("response", (response) => {
    if (response.request().isNavigationRequest()) lastHeaders = response.headers();
  });

  const shoot = async (name) => {
    const file = path.join(env.SCREENSHOT_DIR, `${String(pages.length + 1).padStart(2, "0")}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    pages.push({
      name,
      url: page.url(),
      title: await page.title(),
      screenshot: file,
      text: (await page.locator("body").innerText()).replace(/\s+/g, " ").trim().slice(0, 800),
      contentSecurityPolicy: lastHeaders["content-security-policy"] ?? null,
      frameOptions: lastHeaders["x-frame-options"] ?? null,
    });
  };

  await page.goto(provider.saved.authorizationUrl.href);
  await shoot("sign-in");

  // Signing in upstream: press "Continue with <provider>", then sign in on the provider's page.
  if (env.SIGNIN_PROVIDER) {
    const choice = page.getByRole("link", { name: new RegExp(env.SIGNIN_PROVIDER, "i") }).first();
    await Promise.all([page.waitForNavigation(), choice.click()]);
    await shoot("provider-sign-in");
  }

  // Fill the password field and the text field before it, then submit that form.
  const password = page.locator('input[type="password"]').first();
  const form = page.locator("form", { has: password }).first();
  await form.locator('input:not([type="hidden"]):not([type="password"]):not([type="submit"])').first().fill(env.MCP_LOGIN);
  await password.fill(env.MCP_PASSWORD);
  await Promise.all([page.waitForNavigation(), form.locator('button, input[type="submit"]').first().click()]);
  await shoot("consent");

  const approve = page.getByRole("button", { name: /allow|approve|accept|continue|authorize|grant/i }).first();
  await Promise.all([page.waitForNavigation(), approve.click()]);
  await shoot("done");
} finally {
  await browser.close();
  listener.close();
}

if (!callback) throw new Error(`the browser never came back to the client; last page: ${JSON.stringify(pages.at(-1))}`);
if (callback.searchParams.get("error")) throw new Error(`authorization refused: ${callback.searchParams}`);
const outcome = await auth(provider, { serverUrl, authorizationCode: callback.searchParams.get("code") });

console.log(
  JSON.stringify({
    pages,
    callback: { state: callback.searchParams.get("state"), iss: callback.searchParams.get("iss"), hasCode: callback.searchParams.has("code") },
    outcome,
    requestedScope: provider.saved.authorizationUrl.searchParams.get("scope"),
    grantedScope: provider.saved.tokens?.scope ?? null,
    hasAccessToken: Boolean(provider.saved.tokens?.access_token),
  }),
);
