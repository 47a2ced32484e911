// DOM helpers every view shares: element building, the keyboard-friendly data table (one tab
// stop per table, arrow keys between rows, sortable columns), refusals explained in place.

import { ApiError } from "/console/api.js";
import { formatDuration } from "/console/format.js";

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== "").map((c) => (c instanceof Node ? c : String(c))));
  return node;
}

export const field = (id, label, control) => el("div", {}, el("label", { for: id }, label), control);

export function options(values, current, blank) {
  return [el("option", { value: "" }, blank), ...values.map((v) => el("option", { value: v, selected: v === current }, v))];
}

// A refused request (403, 404, 409…) becomes a sentence in `panel`; anything else is a bug.
export async function explainInto(panel, promise) {
  try { return await promise; } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    panel.append(el("p", { class: "notice", role: "alert" }, error.explain()));
    return null;
  }
}

const compare = (a, b) => (a === null || a === undefined ? 1 : b === null || b === undefined ? -1
  : typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b)));

// A data table. columns: [heading, cell(row), sortBy?]; a column with a sort gets a header
// button (aria-sort says the order). Only one row is in the tab order (roving tabindex):
// arrows, Home and End move between rows, Enter or Space opens one.
// `state` ({ sort: [index, dir], key }) survives re-renders, so a poll keeps the user's place.
// A paged list sorts on the server: with `onSort`, sortBy is the API's sort key, rows come
// in the server's order, and a header click sets state.sort and awaits onSort() (the reload).
// Without it, sortBy(row) sorts the rows at hand (lists the API returns whole).
export function sortParam(columns, state) {
  const [index, dir] = state.sort ?? [null, 1];
  return index === null ? null : `${dir < 0 ? "-" : ""}${columns[index][2]}`;
}

export function table(caption, columns, rows, { onSelect, onSort, state = {}, keyOf = (r) => r.id, id } = {}) {
  const [sortIndex, dir] = state.sort ?? [null, 1];
  const shown = sortIndex === null || onSort ? rows : [...rows].sort((a, b) => {
    const get = columns[sortIndex][2];
    const av = get(a), bv = get(b);
    // Empty values stay last whichever the direction.
    if (av === null || av === undefined || bv === null || bv === undefined) return compare(av, bv);
    return dir * compare(av, bv);
  });
  // A wide table scrolls sideways in its box: a table without focusable rows makes the box
  // itself a tab stop, so keyboard users can scroll it too.
  const wrap = el("div", onSelect ? { class: "table-wrap", id } : { class: "table-wrap", id, tabindex: 0, role: "region", "aria-label": caption });
  const headers = columns.map(([name, , sortValue], index) => {
    if (!sortValue) return el("th", { scope: "col" }, name);
    const sorted = sortIndex === index;
    return el("th", { scope: "col", "aria-sort": sorted ? (dir > 0 ? "ascending" : "descending") : "none" },
      el("button", { type: "button", class: "sort", onclick: async () => {
        state.sort = [index, sorted ? -dir : 1];
        if (!onSort) return render();
        const host = wrap.parentElement;
        await onSort();
        // The reload placed a new table in the same host: keep focus on the header just used.
        host?.querySelector(`th[aria-sort="ascending"] button, th[aria-sort="descending"] button`)?.focus();
      } }, name, el("span", { "aria-hidden": "true" }, sorted ? (dir > 0 ? " ▲" : " ▼") : "")));
  });
  const render = () => {
    const focusedKey = wrap.contains(document.activeElement) ? document.activeElement.dataset?.key : undefined;
    const fresh = table(caption, columns, rows, { onSelect, onSort, state, keyOf, id });
    wrap.replaceWith(fresh);
    fresh.querySelector(`th[aria-sort="ascending"] button, th[aria-sort="descending"] button`)?.focus();
    if (focusedKey) fresh.querySelector(`[data-key="${CSS.escape(focusedKey)}"]`)?.focus();
  };
  const open = (row, tr) => {
    state.key = String(keyOf(row));
    for (const other of tr.parentElement.children) {
      other.classList.toggle("selected", other === tr);
      other.setAttribute("aria-selected", String(other === tr));
    }
    onSelect(row, tr);
  };
  const body = shown.map((row) => {
    const key = String(keyOf(row));
    const attrs = onSelect ? { tabindex: -1, "data-key": key, "aria-selected": String(state.key === key), class: state.key === key ? "selected" : null, onclick: (e) => open(row, e.currentTarget) } : {};
    return el("tr", attrs, columns.map(([, cell]) => el("td", {}, cell(row))));
  });
  if (onSelect && body.length) (body.find((tr) => tr.dataset.key === state.key) ?? body[0]).tabIndex = 0;
  const tbody = el("tbody", {}, body.length ? body : el("tr", {}, el("td", { colspan: columns.length }, "Nothing to show.")));
  if (onSelect) tbody.addEventListener("keydown", (event) => {
    const tr = event.target.closest("tr[data-key]");
    if (!tr) return;
    const all = [...tbody.children];
    const at = all.indexOf(tr);
    const moves = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: all.length - 1, PageDown: at + 10, PageUp: at - 10 };
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      open(shown[at], tr);
    } else if (event.key in moves) {
      event.preventDefault();
      const next = all[Math.max(0, Math.min(all.length - 1, moves[event.key]))];
      tr.tabIndex = -1;
      next.tabIndex = 0;
      next.focus();
    }
  });
  const grid = el("table", {}, el("caption", { class: "muted" }, caption),
    el("thead", {}, el("tr", {}, headers)), tbody);
  wrap.append(grid);
  if (onSelect) wrap.append(el("p", { class: "hint muted" }, "Tab into the table, then ↑ ↓ to move and Enter to open a row."));
  return wrap;
}

export function definitions(pairs) {
  return el("dl", { class: "facts" }, pairs.filter(([, v]) => v !== undefined).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v ?? "—")]));
}

// One status line per view: "Updated 12 s ago" (ticks every second while the view is open).
export function freshness() {
  // Not a live region: a sentence that changes every second must not be read out each time.
  const node = el("p", { class: "updated muted" });
  let at = null;
  const paint = () => {
    if (at === null) return;
    const seconds = Math.max(0, Math.round((Date.now() - at) / 1000));
    node.textContent = `Updated ${seconds < 60 ? `${seconds} s` : formatDuration(seconds / 60)} ago`;
    node.dataset.seconds = String(seconds);
  };
  return { node, stamp() { at = Date.now(); paint(); }, paint };
}

// Put a freshly built table in `container`, keeping keyboard focus on the same row.
export function place(container, node) {
  const key = container.contains(document.activeElement) ? document.activeElement.dataset?.key : undefined;
  container.replaceChildren(node);
  const row = key && node.querySelector(`tr[data-key="${CSS.escape(key)}"]`);
  if (!row) return;
  for (const tr of row.parentElement.children) tr.tabIndex = tr === row ? 0 : -1;
  row.focus();
}

// replaceChildren / append that skip null, undefined and "" (the DOM would print "null").
const kept = (kids) => kids.flat().filter((k) => k !== null && k !== undefined && k !== "");
export const fill = (node, ...kids) => node.replaceChildren(...kept(kids));
export const add = (node, ...kids) => node.append(...kept(kids));
