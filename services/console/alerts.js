// Alerts: filters (type, severity, state, terminal), driver and truck by name, acknowledge /
// snooze / resolve, and why each alert fired: its decisions, Slack deliveries and the
// escalation ladder's steps (what each did, or why it was skipped).

import { api, ApiError } from "/console/api.js";
import { driverDirectory, driverName, truckDirectory, truckName } from "/console/directory.js";
import { el, explainInto, field, freshness, options, place, sortParam, table } from "/console/dom.js";
import { ago, when, words } from "/console/format.js";

// The API's AlertType, AlertStatus and Severity values (models/alert.py), as filter choices.
const TYPES = ["late_for_appointment", "cannot_legally_make_appointment", "hos_drive_time_low", "hos_violation", "speeding",
  "harsh_event", "stopped_too_long", "gps_stale", "severe_weather", "integration_stale", "detention", "call_follow_up"];
const STATES = { "open,acknowledged": "open or acknowledged", open: "open", acknowledged: "acknowledged", snoozed: "snoozed", resolved: "resolved" };
const LADDER = { placed: "call placed", failed: "the provider refused the call", skipped: "skipped", paged: "on-call paged",
  acknowledged: "the call's outcome acknowledged the alert", answered: "the driver answered; the condition still held", unanswered: "no answer" };

export async function renderAlerts(ctx) {
  const [facets, drivers, trucks] = await Promise.all([
    ctx.can("trips:read") ? api("/trips/facets").catch(() => null) : null, driverDirectory(ctx.can), truckDirectory(ctx.can)]);
  const type = el("select", { id: "a-type" }, el("option", { value: "" }, "all types"), TYPES.map((t) => el("option", { value: t }, words(t))));
  const severity = el("select", { id: "a-severity" }, options(["critical", "warning", "info"], "", "all severities"));
  const status = el("select", { id: "a-state" }, Object.entries(STATES).map(([v, label]) => el("option", { value: v }, label)));
  const terminal = el("select", { id: "a-terminal" }, options(facets?.terminals ?? [], "", "all terminals"));
  const list = el("div", { id: "alerts" });
  const detail = el("div", { class: "panel", id: "alert-detail", "aria-live": "polite" }, el("p", { class: "muted" }, "Select an alert to see why it fired and what was done."));
  const updated = freshness();
  const state = { table: { sort: [0, 1] }, page: null };
  const reload = () => load().catch(ctx.report);
  ctx.section.replaceChildren(el("div", { class: "title-row" }, el("h2", {}, "Alerts"), updated.node),
    el("form", { class: "filters", role: "search", "aria-label": "Filter alerts", onsubmit: (e) => { e.preventDefault(); reload(); } },
      field("a-type", "Type", type), field("a-severity", "Severity", severity), field("a-state", "State", status), field("a-terminal", "Terminal", terminal)),
    el("div", { class: "split" }, list, detail));
  for (const box of [type, severity, status, terminal]) box.addEventListener("change", reload);
  const writable = ctx.can("alerts:write");

  const act = async (alert, action, body) => {
    try {
      await api(`/alerts/${alert.id}/${action}`, { method: "POST", json: body });
      detail.replaceChildren(el("p", { role: "status" }, `Alert ${alert.id}: ${action === "ack" ? "acknowledged" : action === "snooze" ? "snoozed for an hour" : "resolved"}.`));
      await load();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      detail.append(el("p", { class: "notice", role: "alert" }, error.explain()));
    }
  };

  const showAlert = async (alert) => {
    detail.replaceChildren(el("h3", {}, alert.title), el("p", {}, alert.message),
      el("p", { class: "muted" }, `${words(alert.type)} · ${alert.severity} · ${alert.status} · seen ${alert.occurrences}× since ${when(alert.first_seen_at)}`),
      el("p", {}, alert.driver_id ? el("a", { href: `#driver/${alert.driver_id}` }, driverName(drivers, alert.driver_id)) : "", alert.vehicle_id ? ` · ${truckName(trucks, alert.vehicle_id)}` : "",
        alert.trip_id ? [alert.driver_id || alert.vehicle_id ? " · " : "", el("a", { href: `#board/${alert.trip_id}` }, "the trip: why it is late, and what to do")] : ""));
    if (writable && alert.status !== "resolved") detail.append(el("div", { class: "actions" },
      alert.status === "open" ? el("button", { type: "button", onclick: () => act(alert, "ack") }, "Acknowledge") : null,
      el("button", { type: "button", class: "secondary", onclick: () => act(alert, "snooze", { minutes: 60 }) }, "Snooze 1 h"),
      el("button", { type: "button", class: "secondary", onclick: () => act(alert, "resolve", { note: "resolved from the console" }) }, "Resolve")));
    const full = await explainInto(detail, api(`/alerts/${alert.id}`));
    if (!full) return;
    detail.append(el("h4", {}, "Why it fired"), el("ul", {}, full.decisions.map((d) =>
      el("li", {}, `${when(d.at)} — ${words(d.decision)}${d.reason ? `: ${d.reason}` : ""}`))));
    detail.append(el("h4", {}, "Escalation ladder"), full.ladder.length
      ? el("ol", { id: "ladder" }, full.ladder.map((s) => el("li", {}, `Step ${s.step_index + 1}, ${words(s.kind)}: ${LADDER[s.status] ?? s.status}`,
        s.reason ? ` (${s.reason})` : "", s.call_id ? [" — ", el("a", { href: `#calls/${s.call_id}` }, `call ${s.call_id}`)] : "", el("span", { class: "muted" }, ` ${when(s.updated_at)}`))))
      : el("p", { class: "muted" }, "No step past Slack has run for this alert."));
    if (full.deliveries.length) detail.append(el("h4", {}, "Slack"), el("ul", { class: "plain" }, full.deliveries.map((d) =>
      el("li", {}, `${words(d.kind)} to ${d.slack_channel ?? d.channel}: ${d.status}${d.sent_at ? ` ${when(d.sent_at)}` : ""}${d.last_error ? ` — ${d.last_error}` : ""}`))));
  };

  // The third field is the API's sort key ("severity" ranks critical first): every matching
  // alert is sorted, not the page at hand.
  const columns = [
    ["Severity", (a) => el("span", { class: `sev-${a.severity}` }, a.severity), "severity"],
    ["Alert", (a) => a.title, "title"], ["Type", (a) => words(a.type), "type"],
    ["Driver", (a) => driverName(drivers, a.driver_id), "driver"], ["Truck", (a) => truckName(trucks, a.vehicle_id), "truck"],
    ["Status", (a) => a.status, "status"], ["Last seen", (a) => ago(a.last_seen_at), "last_seen_at"],
    ["Seen", (a) => `${a.occurrences}×`, "occurrences"],
  ];

  async function load() {
    const params = new URLSearchParams({ limit: "200" });
    for (const s of status.value.split(",")) params.append("status", s);
    if (type.value) params.set("type", type.value);
    if (severity.value) params.set("severity", severity.value);
    if (terminal.value) params.set("terminal", terminal.value);
    params.set("sort", sortParam(columns, state.table));
    const page = await api(`/alerts?${params}`, { poll: true });
    updated.stamp();
    if (page === state.page) return;
    state.page = page;
    place(list, table(`${page.total} alert${page.total === 1 ? "" : "s"}, most severe first; sort by any column`, columns, page.items, { onSelect: showAlert, onSort: reload, state: state.table }));
    list.dataset.ready = "true";
  }
  await load();
  ctx.poll(() => load().catch(() => {}), 5000);
  ctx.tick(() => updated.paint());
}
