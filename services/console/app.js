// The dispatch console: login, then one view at a time chosen by the URL hash ("#board",
// "#driver/12"). Every figure comes from the public API with the user's token; permissions
// from /auth/me decide what is offered. Views poll while they are shown, and stop after.

import { api, ApiError, login, loginRefusal, logout, prefetch, tokens, whenExpired } from "/console/api.js";
import { FIRST_PAGE } from "/console/board.js";
import { NAV, VIEWS } from "/console/views.js";

const $ = (id) => document.getElementById(id);
const state = { me: null, timers: [] };

export const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

function stopTimers() {
  for (const timer of state.timers) clearInterval(timer);
  state.timers = [];
}

function showLogin(message = "") {
  stopTimers();
  state.me = null;
  // Names read for the last user are not the next one's (loaded with the views that use them).
  import("/console/directory.js").then((m) => m.forgetDirectory());
  $("nav").hidden = $("who").hidden = $("view").hidden = true;
  $("skip-nav").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message;
  $("username").focus();
}

whenExpired(() => showLogin("Your session has ended. Please log in again."));

function buildNav() {
  $("nav").replaceChildren(...NAV.map((key) => {
    const link = document.createElement("a");
    link.href = `#${key}`;
    link.textContent = VIEWS[key].title;
    link.dataset.view = key;
    return link;
  }));
}

async function start() {
  if (!location.hash || location.hash === "#board") {
    prefetch(FIRST_PAGE);
    prefetch("/dashboard");
  }
  try {
    state.me = await api("/auth/me");
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) showLogin(String(error.message));
    return;
  }
  $("login").hidden = true;
  $("nav").hidden = $("who").hidden = $("view").hidden = $("skip-nav").hidden = false;
  $("who-name").textContent = `${state.me.full_name || state.me.username} (${state.me.roles.join(", ")})`;
  await route();
}

export function notice(text) {
  const p = document.createElement("p");
  p.className = "notice";
  p.setAttribute("role", "alert");
  p.textContent = text;
  return p;
}

function explain(error) {
  return error instanceof ApiError ? error.explain() : `This view failed: ${error.message}`;
}

async function route() {
  if (!state.me) return;
  stopTimers();
  const [name, ...args] = location.hash.slice(1).split("/");
  const key = VIEWS[name] ? name : "board";
  for (const link of $("nav").children) {
    if (link.dataset.view === key) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const view = VIEWS[key];
  const section = $("view");
  section.setAttribute("aria-label", view.title);
  // `data-ready` marks a view drawn (the browser tests time tab switches by it).
  delete section.dataset.ready;
  section.dataset.view = key;
  $("banner").textContent = "";
  const can = (permission) => state.me.permissions.includes(permission);
  if (!can(view.needs)) {
    section.replaceChildren(notice(`${view.title} needs the “${view.needs}” permission, which your role (${state.me.roles.join(", ")}) does not have. Ask an administrator if you need it.`));
    section.dataset.ready = "true";
    return;
  }
  const ctx = {
    can, me: state.me, zone, notice, section, args,
    poll: (fn, ms) => { state.timers.push(setInterval(fn, ms)); },
    tick: (fn) => { state.timers.push(setInterval(fn, 1000)); },
    say: (text) => { $("banner").textContent = text; },
    report: (error) => { if (!(error instanceof ApiError && error.status === 401)) section.prepend(notice(explain(error))); },
  };
  try {
    const render = await view.load();
    await render(ctx);
    if (section.dataset.view === key) section.dataset.ready = "true";
    // The other views' modules load while the user reads this one, so a tab switch waits for
    // data only.
    setTimeout(() => { for (const other of NAV) VIEWS[other].load().catch(() => {}); }, 0);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    section.replaceChildren(notice(explain(error)));
  }
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    await login($("username").value, $("password").value);
    $("password").value = "";
    await start();
  } catch (error) {
    $("login-error").textContent = loginRefusal(error);
  }
});
$("logout").addEventListener("click", async () => { await logout(); showLogin("You are logged out."); });
window.addEventListener("hashchange", route);
$("zone").textContent = `Times are shown in ${zone}.`;
buildNav();
if (tokens.get()) start(); else showLogin();
// Skip links move focus without touching the hash (the hash names the view).
for (const link of document.querySelectorAll("a.skip")) {
  link.addEventListener("click", (event) => {
    event.preventDefault();
    document.querySelector(link.getAttribute("href")).focus();
  });
}
