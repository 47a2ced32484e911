// The dispatch console: login, then one view at a time chosen by the URL hash. Every figure comes
// from the public API with the user's token; permissions from /auth/me decide what is offered.

import { api, ApiError, login, loginRefusal, logout, tokens, whenExpired } from "/console/api.js";
import { VIEWS } from "/console/views.js";

const $ = (id) => document.getElementById(id);
const state = { me: null, timer: null };

export const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

function showLogin(message = "") {
  clearInterval(state.timer);
  state.me = null;
  $("nav").hidden = $("who").hidden = $("view").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message;
  $("username").focus();
}

whenExpired(() => showLogin("Your session has ended. Please log in again."));

function buildNav() {
  $("nav").replaceChildren(...Object.entries(VIEWS).map(([key, view]) => {
    const link = document.createElement("a");
    link.href = `#${key}`;
    link.textContent = view.title;
    link.dataset.view = key;
    return link;
  }));
}

async function start() {
  try {
    state.me = await api("/auth/me");
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) showLogin(String(error.message));
    return;
  }
  $("login").hidden = true;
  $("nav").hidden = $("who").hidden = $("view").hidden = false;
  $("who-name").textContent = `${state.me.full_name || state.me.username} (${state.me.roles.join(", ")})`;
  await route();
}

async function route() {
  if (!state.me) return;
  clearInterval(state.timer);
  const key = VIEWS[location.hash.slice(1)] ? location.hash.slice(1) : "board";
  for (const link of $("nav").children) {
    if (link.dataset.view === key) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const view = VIEWS[key];
  const section = $("view");
  section.setAttribute("aria-label", view.title);
  const can = (permission) => state.me.permissions.includes(permission);
  if (!can(view.needs)) {
    section.innerHTML = "";
    section.append(notice(`${view.title} needs the “${view.needs}” permission, which your role (${state.me.roles.join(", ")}) does not have. Ask an administrator if you need it.`));
    return;
  }
  const ctx = { can, me: state.me, zone, notice, section, poll: (fn, ms) => { state.timer = setInterval(fn, ms); } };
  try {
    await view.render(ctx);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    section.innerHTML = "";
    section.append(notice(error instanceof ApiError ? error.explain() : `This view failed: ${error.message}`));
  }
}

export function notice(text) {
  const p = document.createElement("p");
  p.className = "notice";
  p.setAttribute("role", "alert");
  p.textContent = text;
  return p;
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
