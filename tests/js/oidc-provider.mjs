// A real OpenID Provider (npm `oidc-provider`) for roost's sign-in tests: the router signs users
// in through it exactly as it would through Okta, Auth0 or Keycloak (discovery, code + PKCE,
// nonce, ID token), and two test accounts let a test check that two people get two tenants.
//
// Prints one JSON line `{"issuer": …, "accounts": [...]}` on stdout when it is listening, then
// runs until killed (SIGTERM/SIGINT) or until stdin closes, so a test that dies takes it along.
//
// env (all optional except the redirect URIs):
//   OIDC_PORT           port on 127.0.0.1 (default 0: any free port; the issuer names it)
//   OIDC_CLIENT_ID      default "roost"
//   OIDC_CLIENT_SECRET  default "roost-secret"
//   OIDC_REDIRECT_URIS  comma-separated redirect URIs registered for the client (required)
//   OIDC_ACCOUNTS       JSON [{"login","password","email","name"}]; default alice and bob
//
// Sign-in is a plain HTML form (`login`, `password`) that works without JavaScript, so both a
// cookie-keeping HTTP client (lib/form-browser.mjs) and a real browser can complete it. Consent
// is implied: the router is a first-party client of this provider, as it is of a company IdP.
import http from "node:http";
import { once } from "node:events";
import Provider from "oidc-provider";

const env = process.env;
const redirectUris = (env.OIDC_REDIRECT_URIS ?? "").split(",").map((s) => s.trim()).filter(Boolean);
if (redirectUris.length === 0) {
  console.error("oidc-provider.mjs: set OIDC_REDIRECT_URIS to the router's callback URL(s)");
  process.exit(2);
}
const accounts = JSON.parse(
  env.OIDC_ACCOUNTS ??
    JSON.stringify([
      { login: "alice", password: "alice-password", email: "alice@example.test", name: "Alice Example" },
      { login: "bob", password: "bob-password", email: "bob@example.test", name: "Bob Example" },
    ]),
);

// Bind first, so the issuer names the real port even when the OS picked it.
const server = http.createServer();
server.listen(Number(env.OIDC_PORT ?? 0), "127.0.0.1");
await once(server, "listening");
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: env.OIDC_CLIENT_ID ?? "roost",
      client_secret: env.OIDC_CLIENT_SECRET ?? "roost-secret",
      redirect_uris: redirectUris,
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  // The subject is the login: stable across runs, so a test can predict which user is which.
  async findAccount(_ctx, sub) {
    const account = accounts.find((a) => a.login === sub);
    if (!account) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, email: account.email, email_verified: true, name: account.name, preferred_username: account.login };
      },
    };
  },
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name", "preferred_username"] },
  scopes: ["openid", "email", "profile", "offline_access"],
  // Put the scope's claims (email, name) in the ID token too, as most company IdPs do, so a
  // relying party that reads only the ID token sees them.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  pkce: { required: () => true },
  cookies: { keys: ["roost-e2e-oidc-provider-cookie-key"] },
  ttl: { Session: 3600, Interaction: 600, Grant: 3600, AccessToken: 600, AuthorizationCode: 60, IdToken: 600 },
});
// The issuer is plain http on loopback; tell koa not to expect a TLS-terminating proxy.
provider.proxy = false;

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, clientId, error) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in to the test identity provider</title>
<style>body{font-family:sans-serif;max-width:24rem;margin:4rem auto}input,button{display:block;width:100%;margin:.5rem 0;padding:.5rem}.error{color:#b00}</style>
</head><body>
<h1>Test identity provider</h1>
<p>Sign in to continue to <strong>${escape(clientId)}</strong>.</p>
${error ? `<p class="error">${escape(error)}</p>` : ""}
<form method="post" action="/interaction/${escape(uid)}/login" autocomplete="off">
  <label>Username <input name="login" required autofocus></label>
  <label>Password <input name="password" type="password" required></label>
  <button type="submit">Sign in</button>
</form>
</body></html>`;
}

async function readForm(req) {
  let body = "";
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

// Grant what the client asked for: consent is implied for the router (see the header).
async function grantConsent(details) {
  const { prompt, params, session, grantId } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(" "));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(" "));
  }
  return { consent: { grantId: await grant.save() } };
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error("interaction id mismatch");
  if (details.prompt.name === "consent") {
    return provider.interactionFinished(req, res, await grantConsent(details), { mergeWithLastSubmission: true });
  }
  if (action !== "login" || req.method !== "POST") {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    return res.end(loginPage(uid, details.params.client_id));
  }
  const form = await readForm(req);
  const account = accounts.find((a) => a.login === form.get("login") && a.password === form.get("password"));
  if (!account) {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    return res.end(loginPage(uid, details.params.client_id, "Wrong username or password."));
  }
  return provider.interactionFinished(req, res, { login: { accountId: account.login } }, { mergeWithLastSubmission: false });
}

const callback = provider.callback();
server.on("request", (req, res) => {
  const match = req.url.match(/^\/interaction\/([^/?]+)(?:\/(login))?(?:\?.*)?$/);
  if (!match) return callback(req, res);
  interaction(req, res, match[1], match[2]).catch((error) => {
    console.error(`interaction failed: ${error.stack ?? error}`);
    if (!res.headersSent) res.writeHead(400, { "content-type": "text/plain; charset=utf-8" });
    res.end(`sign-in failed: ${error.message}\n`);
  });
});
provider.on("server_error", (_ctx, error) => console.error(`oidc-provider server_error: ${error.stack ?? error}`));

console.log(JSON.stringify({ issuer, client_id: env.OIDC_CLIENT_ID ?? "roost", accounts: accounts.map((a) => a.login) }));

const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.resume();
