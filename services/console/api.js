// The hub's API as the console uses it: bearer tokens in sessionStorage, one refresh on a 401,
// the published error shape turned into a sentence, and If-None-Match for polled lists.

const KEY = "fleethub.tokens";
const etags = new Map(); // url -> [etag, body]
const early = new Map(); // url -> a read started before its view asked (prefetch)

export class ApiError extends Error {
  constructor(status, code, detail, path, body = {}) {
    super(detail || code || `HTTP ${status}`);
    Object.assign(this, { status, code, detail, path, body });
  }
  explain() {
    if (this.status === 403) return `Your role may not do this (${this.path}): ${this.detail || "forbidden"}.`;
    if (this.status === 404 && this.code === "not_found" && /^no route matches/.test(this.detail || ""))
      return `This hub has no ${this.path} endpoint yet, so this view cannot be shown.`;
    if (this.status === 404) return `${this.path} answered 404: ${this.detail || "not found"}.`;
    return `${this.path} answered ${this.status}: ${this.detail || this.code || "error"}.`;
  }
}

export const tokens = {
  get() { try { return JSON.parse(sessionStorage.getItem(KEY)); } catch { return null; } },
  set(pair) { sessionStorage.setItem(KEY, JSON.stringify(pair)); },
  clear() { sessionStorage.removeItem(KEY); etags.clear(); early.clear(); },
};

let onExpired = () => {};
export function whenExpired(fn) { onExpired = fn; }

async function errorOf(response, path) {
  let body = {};
  try { body = await response.json(); } catch { /* not JSON */ }
  const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail ?? "");
  return new ApiError(response.status, body.error, detail, path, body);
}

// The login form's sentence for a refused login. The API tells only the right password that
// the account is locked (and for how long), so every other 401 reads the same.
export function loginRefusal(error) {
  if (!(error instanceof ApiError)) return String(error);
  if (error.code === "account_locked") {
    const minutes = Math.max(1, Math.ceil((error.body?.locked_seconds ?? 60) / 60));
    return `Account locked — try again in ${minutes} min.`;
  }
  if (error.status === 401) return "Wrong username or password.";
  return error.explain();
}

export async function login(username, password) {
  const form = new URLSearchParams({ username, password });
  const response = await fetch("/auth/token", { method: "POST", body: form });
  if (!response.ok) throw await errorOf(response, "/auth/token");
  const pair = await response.json();
  tokens.set({ access: pair.access_token, refresh: pair.refresh_token });
}

async function refresh() {
  const pair = tokens.get();
  if (!pair?.refresh) return false;
  const response = await fetch("/auth/refresh", {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ refresh_token: pair.refresh }),
  });
  if (!response.ok) return false;
  const body = await response.json();
  tokens.set({ access: body.access_token, refresh: body.refresh_token });
  return true;
}

// Start a polled read now, beside /auth/me, so the first view does not wait for two round
// trips in a row; the view's own api() call for the same path takes the answer once.
export function prefetch(path) {
  early.set(path, api(path, { poll: true }).catch((error) => error));
}

export async function api(path, { method = "GET", json, poll = false, raw = false } = {}) {
  if (poll && early.has(path)) {
    const answer = await early.get(path);
    early.delete(path);
    if (answer instanceof Error) throw answer;
    return answer;
  }
  const send = () => {
    const headers = { authorization: `Bearer ${tokens.get()?.access ?? ""}` };
    if (json !== undefined) headers["content-type"] = "application/json";
    const cached = poll && etags.get(path);
    if (cached) headers["if-none-match"] = cached[0];
    return fetch(path, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) });
  };
  let response = await send();
  if (response.status === 401 && (await refresh())) response = await send();
  if (response.status === 401) {
    tokens.clear();
    onExpired();
    throw new ApiError(401, "unauthorized", "your session has ended", path);
  }
  if (response.status === 304 && poll && etags.has(path)) return etags.get(path)[1];
  if (!response.ok) throw await errorOf(response, path);
  if (raw) return response;
  const body = response.status === 204 ? null : await response.json();
  const etag = response.headers.get("etag");
  if (poll && etag) etags.set(path, [etag, body]);
  return body;
}

export async function logout() {
  try { await api("/auth/logout", { method: "POST" }); } catch { /* already gone */ }
  tokens.clear();
}
