// One driver ("#driver/12"): profile, HOS clocks and their projection on the current trip,
// the conversation (messages both ways and calls with transcript and what the driver said,
// refreshed while open; a message form), the scorecard series with
// each day's score breakdown and its chart, and the series as a CSV download.

import { api } from "/console/api.js";
import { callDetail } from "/console/calls.js";
import { definitions, el, explainInto, fill, table } from "/console/dom.js";
import { counted, formatDuration, REST_NAMES, when, words } from "/console/format.js";
import { messageForm } from "/console/messages.js";


function hosSection(projection) {
  return el("section", { "aria-labelledby": "d-hos" }, el("h3", { id: "d-hos" }, "Hours of service"),
    el("p", {}, `${words(projection.duty_status)} as of ${when(projection.as_of)}${projection.binding_clock ? `; the ${projection.binding_clock} clock binds first, at ${when(projection.binds_at)}` : "; no clock runs out on the current plan"}.`),
    table("Clocks now and when each runs out on the current trip", [
      ["Clock", (c) => c.clock], ["Left", (c) => formatDuration(c.minutes_left)], ["Runs out", (c) => (c.runs_out_at ? when(c.runs_out_at) : "lasts the trip")],
    ], projection.clocks, { keyOf: (c) => c.clock }),
    projection.rests.length ? el("p", {}, "Rests the plan needs: ", projection.rests.map((r) => `${REST_NAMES[r.kind] ?? r.kind} (${r.clock}) ${when(r.start)} – ${when(r.end)}`).join("; ")) : null,
    projection.trip_id ? el("p", {}, el("a", { href: `#board/${projection.trip_id}` }, "The current trip on the board")) : null,
    projection.stops.length ? table("Legal ETA per remaining stop", [
      ["Stop", (s) => s.name ?? `#${s.sequence}`], ["Window ends", (s) => when(s.appointment_end ?? s.appointment_start)],
      ["ETA driving only", (s) => when(s.eta_no_rest)], ["Legal ETA", (s) => when(s.eta_legal)],
      ["Legal lateness", (s) => (s.legal_late_minutes > 0 ? el("span", { class: "risk-late" }, `${formatDuration(s.legal_late_minutes)} late`) : "on time")],
    ], projection.stops, { keyOf: (s) => s.stop_id }) : el("p", { class: "muted" }, "No trip with stops ahead."));
}

const CHANNEL = { samsara_message: "in-cab", sms: "SMS", vapi: "AI call", elevenlabs: "AI call" };

function entry(item) {
  const who = item.direction === "inbound" ? "Driver" : "Hub";
  const head = `${when(item.at)} · ${who} · ${CHANNEL[item.channel] ?? words(item.channel)}`;
  if (item.kind === "call") {
    const body = el("div", { class: "call-body" });
    const details = el("details", { "data-call": item.id }, el("summary", {}, `${head}: ${words(item.purpose)} call — ${item.status}${item.outcome ? `, ${words(item.outcome)}` : ""}${item.text ? ` — ${item.text}` : ""}`), body);
    details.addEventListener("toggle", () => { if (details.open && !body.childElementCount) callDetail(body, item.id); });
    return el("li", { class: "call" }, details);
  }
  const state = item.read_at ? `read ${when(item.read_at)}` : item.delivered_at ? `delivered ${when(item.delivered_at)}` : words(item.delivery_status ?? item.status);
  const heard = item.insight ? Object.entries(item.insight).filter(([, v]) => v !== null && v !== false && !(Array.isArray(v) && !v.length)).map(([k, v]) => `${words(k)}: ${Array.isArray(v) ? v.join(", ") : v}`).join("; ") : "";
  return el("li", { class: `message ${item.direction}` }, el("span", { class: "muted" }, head), el("p", {}, item.text ?? ""),
    el("span", { class: "muted" }, item.direction === "outbound" ? state : ""), heard ? el("p", { class: "muted" }, `What it told us: ${heard}`) : "");
}

async function conversationSection(ctx, driver) {
  const list = el("ol", { class: "conversation", id: "d-conversation" });
  const section = el("section", { "aria-labelledby": "d-conv" }, el("h3", { id: "d-conv" }, "Conversation"),
    ctx.can("calls:place") ? messageForm(driver, {}, () => load()) : null, list);
  const load = async () => {
    const page = await api(`/drivers/${driver.id}/conversation?limit=50`, { poll: true });
    if (page === section.last) return;
    section.last = page;
    const open = new Set([...list.querySelectorAll("details[open]")].map((d) => d.dataset.call));
    list.replaceChildren(...(page.items.length ? page.items.map(entry) : [el("li", { class: "muted" }, "No message or call with this driver yet.")]));
    for (const details of list.querySelectorAll("details")) if (open.has(details.dataset.call)) details.open = true;
  };
  await load();
  ctx.poll(() => load().catch(() => {}), 5000);
  return section;
}

const CSV_COLUMNS = ["report_date", "safety_score", "miles", "on_time_pct", "late_minutes", "drive_hours", "hos_violations", "safety_events", "speeding_minutes", "calls"];

function csv(series) {
  const quote = (v) => (v === null || v === undefined ? "" : /[",\n]/.test(String(v)) ? `"${String(v).replaceAll('"', '""')}"` : String(v));
  return [[...CSV_COLUMNS, "score_components"].join(","),
    ...series.days.map((d) => [...CSV_COLUMNS.map((c) => quote(d[c])), quote(Object.entries(d.score_components).map(([k, v]) => `${k}=${v}`).join("; "))].join(","))].join("\n");
}

function scorecard(series, chart) {
  if (!series.days.length) {
    return el("section", { "aria-labelledby": "d-score" }, el("h3", { id: "d-score" }, `Scorecard ${series.start} to ${series.end}`),
      el("p", { class: "muted" }, "No scorecard day in this range yet (scorecards are built for each day after its data is in)."));
  }
  const breakdown = (d) => (Object.keys(d.score_components).length ? Object.entries(d.score_components).map(([k, v]) => `−${v} ${words(k)}`).join(", ") : "no deductions");
  const download = el("a", { href: URL.createObjectURL(new Blob([csv(series)], { type: "text/csv" })), download: `scorecard-${series.driver_id}-${series.start}-${series.end}.csv`, id: "d-export" }, "Download the series (CSV)");
  const t = series.totals;
  return el("section", { "aria-labelledby": "d-score" }, el("h3", { id: "d-score" }, `Scorecard ${series.start} to ${series.end}`),
    el("p", {}, `Average score ${t.average_score === null ? "—" : t.average_score.toFixed(0)} over ${counted(t.days, "day")}; ${Math.round(t.miles)} mi, ${counted(t.hos_violations, "HOS violation")}, ${counted(t.safety_events, "safety event")}, ${counted(t.calls, "call")}. `, download),
    chart ? el("img", { class: "chart", src: URL.createObjectURL(chart), alt: `Daily safety score of ${series.driver_name}, ${series.start} to ${series.end}` }) : null,
    table("Daily scores and what each lost points for", [
      ["Day", (d) => d.report_date, (d) => d.report_date], ["Score", (d) => (d.safety_score === null ? el("span", { class: "muted", title: d.score_withheld_reason ?? "" }, "not scored") : d.safety_score.toFixed(0)), (d) => d.safety_score],
      ["Breakdown", breakdown], ["Miles", (d) => Math.round(d.miles), (d) => d.miles], ["On time", (d) => (d.on_time_pct === null ? "—" : `${d.on_time_pct.toFixed(0)} %`), (d) => d.on_time_pct],
      ["HOS violations", (d) => d.hos_violations, (d) => d.hos_violations], ["Safety events", (d) => d.safety_events, (d) => d.safety_events],
    ], [...series.days].reverse(), { keyOf: (d) => d.report_date, id: "d-days" }),
    el("p", { class: "muted" }, `Score: ${series.score_formula}`));
}

export async function renderDriver(ctx) {
  const id = Number(ctx.args[0]);
  if (!Number.isInteger(id) || id <= 0) {
    ctx.section.replaceChildren(el("h2", {}, "Driver"), ctx.notice("Open a driver from the board, alerts, calls or scorecards (the address names one: #driver/12)."));
    return;
  }
  ctx.section.replaceChildren(el("h2", {}, "Driver"));
  const driver = await explainInto(ctx.section, api(`/drivers/${id}`));
  if (!driver) return;
  const [projection, talk, series, chart] = await Promise.all([
    ctx.can("hos:read") ? api(`/drivers/${id}/hos-projection`).catch(() => null) : null,
    ctx.can("calls:read") ? conversationSection(ctx, driver).catch(() => null) : null,
    ctx.can("reports:read") ? api(`/reports/drivers/${id}`).catch(() => null) : null,
    ctx.can("reports:read") ? api(`/reports/drivers/${id}/chart.png`, { raw: true }).then((r) => r.blob()).catch(() => null) : null,
  ]);
  fill(ctx.section, el("h2", {}, driver.full_name, driver.do_not_call ? el("span", { class: "badge" }, "do not call") : null),
    definitions([["Status", driver.status], ["Terminal", driver.terminal], ["Fleet manager", driver.fleet_manager], ["Phone", driver.phone],
      ["Language", driver.language], ["Time zone", driver.timezone], ["Notes", driver.notes]]),
    projection ? hosSection(projection) : el("p", { class: "muted" }, "No hours-of-service clock for this driver yet."),
    talk,
    series ? scorecard(series, chart) : el("p", { class: "muted" }, "No scorecard for this driver in the last 30 days."));
}
