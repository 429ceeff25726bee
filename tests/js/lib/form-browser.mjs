// A "browser" without a browser: an HTTP client that keeps cookies, follows redirects and
// submits the HTML forms of sign-in and consent pages. End-to-end tests use it to complete
// OAuth authorization flows headlessly (roost's own pages and the test OpenID provider's).
//
// It understands exactly what those pages use: plain `<form method="post">` with `<input>`
// and `<button>` elements, `<a href>` links, and 3xx redirects. No JavaScript runs, which is
// also a check: roost's pages must work without it.

/** One cookie jar per origin, enough for host-only cookies on 127.0.0.1. */
class CookieJar {
  #byOrigin = new Map();

  store(url, response) {
    const origin = new URL(url).origin;
    const jar = this.#byOrigin.get(origin) ?? new Map();
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(";");
      const eq = pair.indexOf("=");
      if (eq < 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((a) => {
        const [k, v] = a.split("=").map((s) => s.trim().toLowerCase());
        return (k === "max-age" && Number(v) <= 0) || (k === "expires" && Date.parse(v) < Date.now());
      });
      if (expired) jar.delete(name);
      else jar.set(name, value);
    }
    this.#byOrigin.set(origin, jar);
  }

  header(url) {
    const jar = this.#byOrigin.get(new URL(url).origin);
    if (!jar || jar.size === 0) return undefined;
    return [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
  }
}

const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", "#39": "'", "#x27": "'", "#47": "/", "#x2F": "/" };

function decodeEntities(text) {
  return text.replace(/&(#?\w+);/g, (whole, name) => {
    if (name in ENTITIES) return ENTITIES[name];
    if (/^#x[0-9a-f]+$/i.test(name)) return String.fromCodePoint(parseInt(name.slice(2), 16));
    if (/^#\d+$/.test(name)) return String.fromCodePoint(Number(name.slice(1)));
    return whole;
  });
}

function attributes(tag) {
  const out = {};
  for (const m of tag.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    out[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? "");
  }
  return out;
}

/** The forms and links of an HTML page, with enough detail to submit them. */
export function parsePage(html, pageUrl) {
  const forms = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attrs = attributes(m[1]);
    const fields = [];
    const buttons = [];
    const elements = /<(input|textarea|select)\b([^>]*)>|<(button)\b([^>]*)>([\s\S]*?)<\/button>/gi;
    for (const el of m[2].matchAll(elements)) {
      const tag = (el[1] ?? el[3]).toLowerCase();
      const a = attributes(el[2] ?? el[4]);
      const type = (a.type ?? (tag === "button" ? "submit" : "text")).toLowerCase();
      const label = decodeEntities((el[5] ?? a.value ?? "").replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim());
      if (type === "submit" || type === "image") buttons.push({ name: a.name, value: a.value ?? "", label });
      else if (a.name && !((type === "checkbox" || type === "radio") && !("checked" in a)))
        fields.push({ name: a.name, value: a.value ?? "", type });
    }
    forms.push({
      action: new URL(attrs.action || pageUrl, pageUrl).href,
      method: (attrs.method ?? "get").toLowerCase(),
      fields,
      buttons,
      text: m[2].replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim(),
    });
  }
  const links = [...html.matchAll(/<a\b([^>]*)>([\s\S]*?)<\/a>/gi)].map((m) => ({
    href: new URL(attributes(m[1]).href ?? "", pageUrl).href,
    text: decodeEntities(m[2].replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim()),
  }));
  const title = decodeEntities(html.match(/<title>([\s\S]*?)<\/title>/i)?.[1]?.trim() ?? "");
  return { forms, links, title };
}

/**
 * Walk an authorization flow from `startUrl` until a redirect lands on a URL for which
 * `isDone(url)` is true, and return that URL (it carries `code`, `state`, `iss`).
 *
 * On each HTML page `choose(page)` decides the next step: return
 * `{ form, values, button }` to submit a form (values override its fields; `button` is the
 * submit button to press, whose name/value is sent), `{ link }` to follow a link, or nothing
 * to give up. `pages` records every page seen (URL, status, title) for the test's report.
 */
export async function walk(startUrl, { isDone, choose, maxSteps = 25 }) {
  const jar = new CookieJar();
  const pages = [];
  let request = { url: startUrl, method: "GET", body: undefined };
  for (let step = 0; step < maxSteps; step++) {
    if (isDone(request.url)) return { url: request.url, pages };
    const headers = { accept: "text/html" };
    const cookie = jar.header(request.url);
    if (cookie) headers.cookie = cookie;
    if (request.body) headers["content-type"] = "application/x-www-form-urlencoded";
    const response = await fetch(request.url, { method: request.method, headers, body: request.body, redirect: "manual" });
    jar.store(request.url, response);
    if (response.status >= 300 && response.status < 400) {
      const location = response.headers.get("location");
      if (!location) throw new Error(`${response.status} from ${request.url} without Location`);
      await response.arrayBuffer();
      request = { url: new URL(location, request.url).href, method: "GET", body: undefined };
      continue;
    }
    const html = await response.text();
    const page = { url: request.url, status: response.status, ...parsePage(html, request.url) };
    pages.push({ url: page.url, status: page.status, title: page.title });
    if (response.status >= 400) {
      const text = html.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim().slice(0, 600);
      throw Object.assign(new Error(`${response.status} at ${request.url}: ${text}`), { pages });
    }
    // A form that comes back again and again (a wrong password) is a dead end, not a loop.
    const seen = pages.filter((p) => p.url === page.url && p.title === page.title).length;
    if (seen > 2) {
      const text = html.replace(/<style[\s\S]*?<\/style>/gi, "").replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim();
      throw Object.assign(new Error(`stuck on "${page.title}" at ${page.url}: ${text.slice(0, 400)}`), { pages });
    }
    const action = choose(page);
    if (!action) {
      throw Object.assign(new Error(`no way forward on ${request.url} ("${page.title}")`), { pages });
    }
    if (action.link) {
      request = { url: action.link, method: "GET", body: undefined };
      continue;
    }
    const { form, values = {}, button } = action;
    const params = new URLSearchParams();
    for (const f of form.fields) params.append(f.name, f.name in values ? values[f.name] : f.value);
    for (const [k, v] of Object.entries(values)) if (!form.fields.some((f) => f.name === k)) params.append(k, v);
    if (button?.name) params.append(button.name, button.value);
    if (form.method === "post") request = { url: form.action, method: "POST", body: params.toString() };
    else {
      const url = new URL(form.action);
      for (const [k, v] of params) url.searchParams.append(k, v);
      request = { url: url.href, method: "GET", body: undefined };
    }
  }
  throw Object.assign(new Error(`no redirect back to the client after ${maxSteps} steps`), { pages });
}

/**
 * The default way through a sign-in: fill a form that has fields named in `credentials`
 * (e.g. `{ username, password }` or `{ login, password }`), approve a consent form (press the
 * button whose name/value/label reads like "allow"/"approve"/"continue"), or follow a sign-in
 * link whose text matches `provider` (e.g. "dev", "local", "OpenID").
 */
export function signInChooser({ credentials = {}, provider } = {}) {
  const approve = /allow|approve|accept|continue|consent|authorize|grant|yes/i;
  const deny = /deny|cancel|reject|refuse|decline|no\b/i;
  return (page) => {
    const names = Object.keys(credentials);
    const login = page.forms.find((f) => names.length && names.every((n) => f.fields.some((x) => x.name === n)));
    if (login) return { form: login, values: credentials, button: login.buttons[0] };
    if (provider) {
      const wanted = new RegExp(provider, "i");
      const form = page.forms.find((f) => wanted.test(f.text) || f.buttons.some((b) => wanted.test(`${b.value} ${b.label}`)));
      if (form) {
        const button = form.buttons.find((b) => wanted.test(`${b.value} ${b.label}`)) ?? form.buttons[0];
        return { form, values: {}, button };
      }
      const link = page.links.find((l) => wanted.test(l.text) || wanted.test(l.href));
      if (link) return { link: link.href };
    }
    for (const form of page.forms) {
      const button = form.buttons.find((b) => approve.test(`${b.value} ${b.label}`) && !deny.test(`${b.value} ${b.label}`));
      if (button) return { form, values: {}, button };
      if (form.buttons.length && approve.test(form.text) && !deny.test(form.text)) return { form, values: {}, button: form.buttons[0] };
    }
    return undefined;
  };
}
