// Checks tests/js/oidc-provider.mjs the way roost's router uses it, with no router involved:
// discovery → authorization request (code + PKCE S256 + nonce) → the sign-in form, submitted by
// the cookie-keeping form browser → code at the redirect URI → token request with
// client_secret_basic → an ID token naming the account. Prints one JSON object.
//
// env: OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI,
//      OIDC_LOGIN, OIDC_PASSWORD
import crypto from "node:crypto";
import { walk, signInChooser } from "./lib/form-browser.mjs";

const env = process.env;
const b64url = (buf) => Buffer.from(buf).toString("base64url");

const discovery = await (await fetch(`${env.OIDC_ISSUER}/.well-known/openid-configuration`)).json();
const verifier = b64url(crypto.randomBytes(32));
const state = b64url(crypto.randomBytes(16));
const nonce = b64url(crypto.randomBytes(16));
const authorize = new URL(discovery.authorization_endpoint);
authorize.search = new URLSearchParams({
  response_type: "code",
  client_id: env.OIDC_CLIENT_ID,
  redirect_uri: env.OIDC_REDIRECT_URI,
  scope: "openid email profile",
  state,
  nonce,
  code_challenge: b64url(crypto.createHash("sha256").update(verifier).digest()),
  code_challenge_method: "S256",
}).toString();

const { url, pages } = await walk(authorize.href, {
  isDone: (u) => u.startsWith(env.OIDC_REDIRECT_URI),
  choose: signInChooser({ credentials: { login: env.OIDC_LOGIN, password: env.OIDC_PASSWORD } }),
});
const back = new URL(url).searchParams;
if (back.get("error")) throw new Error(`provider refused: ${back.get("error")}: ${back.get("error_description")}`);

const basic = Buffer.from(`${env.OIDC_CLIENT_ID}:${env.OIDC_CLIENT_SECRET}`).toString("base64");
const tokenResponse = await fetch(discovery.token_endpoint, {
  method: "POST",
  headers: { authorization: `Basic ${basic}`, "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams({
    grant_type: "authorization_code",
    code: back.get("code"),
    redirect_uri: env.OIDC_REDIRECT_URI,
    code_verifier: verifier,
  }),
});
const tokens = await tokenResponse.json();
if (!tokenResponse.ok) throw new Error(`token request refused: ${JSON.stringify(tokens)}`);
const claims = JSON.parse(Buffer.from(tokens.id_token.split(".")[1], "base64url").toString());

console.log(
  JSON.stringify({
    issuer: discovery.issuer,
    stateEchoed: back.get("state") === state,
    iss: back.get("iss"),
    pages: pages.map((p) => p.title),
    sub: claims.sub,
    email: claims.email,
    nonceMatches: claims.nonce === nonce,
  }),
);
