// The console's views. Each renders into ctx.section from API data; write actions are offered
// only when the user's permissions include them, and a refused request is explained in place.

import { api, ApiError } from "/console/api.js";
import { formatDuration } from "/console/format.js";

const zoneName = Intl.DateTimeFormat().resolvedOptions().timeZone;
const timeFormat = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short",
});

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined).map((c) => (c instanceof Node ? c : String(c))));
  return node;
}

const when = (iso) => (iso ? timeFormat.format(new Date(iso)) : "—");
const minutes = formatDuration;

function table(caption, columns, rows, { onSelect } = {}) {
  const body = rows.map((row) => {
    const tr = el("tr", onSelect ? { tabindex: 0, onclick: () => onSelect(row, tr), onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); onSelect(row, tr); } } } : {},
      columns.map(([, cell]) => el("td", {}, cell(row))));
    return tr;
  });
  return el("table", {}, el("caption", { class: "muted" }, caption),
    el("thead", {}, el("tr", {}, columns.map(([name]) => el("th", { scope: "col" }, name)))),
    el("tbody", {}, body.length ? body : el("tr", {}, el("td", { colspan: columns.length }, "Nothing to show."))));
}

function select(tr) {
  for (const row of tr.parentElement.children) row.classList.remove("selected");
  tr.classList.add("selected");
}

async function explainInto(panel, promise) {
  try { return await promise; } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    panel.append(el("p", { class: "notice", role: "alert" }, error.explain()));
    return null;
  }
}

function riskCell(trip) {
  const risk = trip.late_risk_minutes;
  if (risk === null || risk === undefined) return el("span", { class: "muted" }, "no ETA");
  return risk > 0 ? el("span", { class: "risk-late" }, `${formatDuration(risk)} late`) : el("span", { class: "risk-ok" }, `on time (${formatDuration(-risk)} spare)`);
}

// ---- trips board -------------------------------------------------------------------------

async function renderBoard(ctx) {
  const statusBox = el("select", { id: "f-status" }, ["", "planned", "dispatched", "in_transit", "delivered", "cancelled"].map((s) => el("option", { value: s }, s || "active (any)")));
  const lateBox = el("input", { id: "f-late", type: "checkbox" });
  const search = el("input", { id: "f-q", type: "search", placeholder: "load, customer, driver" });
  const kpis = el("div", { class: "kpis", "aria-live": "polite" });
  const list = el("div", { id: "board" });
  const detail = el("div", { class: "panel", id: "trip-detail", "aria-live": "polite" }, el("p", { class: "muted" }, "Select a trip for its next stop and appointment."));
  ctx.section.replaceChildren(el("h2", {}, "Trips board"), kpis,
    el("form", { class: "filters", role: "search", onsubmit: (e) => { e.preventDefault(); load(); } },
      el("div", {}, el("label", { for: "f-status" }, "Status"), statusBox),
      el("div", {}, el("label", { for: "f-late" }, "Late risk only"), lateBox),
      el("div", {}, el("label", { for: "f-q" }, "Search"), search),
      el("button", { type: "submit" }, "Apply")),
    el("div", { class: "split" }, list, detail));

  const showTrip = async (trip, tr) => {
    select(tr);
    detail.replaceChildren(el("h3", {}, `Trip ${trip.load_number || trip.id}`));
    const full = await explainInto(detail, api(`/trips/${trip.id}`));
    if (!full) return;
    const stop = full.next_stop;
    detail.append(el("dl", {},
      el("dt", {}, "Driver"), el("dd", {}, full.driver?.full_name ?? "—"),
      el("dt", {}, "Truck"), el("dd", {}, full.vehicle?.unit_number ?? "—"),
      el("dt", {}, "Next stop"), el("dd", {}, stop ? `${stop.name ?? stop.city ?? "stop"} ${stop.city ? `(${stop.city}, ${stop.state ?? ""})` : ""}` : "none left"),
      el("dt", {}, "Appointment"), el("dd", {}, stop ? `${when(stop.appointment_start)} – ${when(stop.appointment_end)}` : "—"),
      el("dt", {}, "ETA next stop"), el("dd", {}, when(full.eta_next_stop)),
      el("dt", {}, "Late risk"), el("dd", {}, riskCell(full))));
  };

  async function load() {
    const params = new URLSearchParams({ limit: "200" });
    if (statusBox.value) params.append("status", statusBox.value);
    else for (const s of ["dispatched", "in_transit"]) params.append("status", s);
    if (lateBox.checked) params.set("late_only", "true");
    if (search.value.trim()) params.set("q", search.value.trim());
    const page = await api(`/trips?${params}`, { poll: true });
    const trips = [...page.items].sort((a, b) => (b.late_risk_minutes ?? -1e9) - (a.late_risk_minutes ?? -1e9));
    list.replaceChildren(table(`${page.total} trips, highest late risk first`, [
      ["Load", (t) => t.load_number ?? t.id], ["Status", (t) => t.status.replace("_", " ")],
      ["Driver", (t) => t.driver?.full_name ?? "—"], ["Truck", (t) => t.vehicle?.unit_number ?? "—"],
      ["Customer", (t) => t.customer ?? "—"], ["ETA next stop", (t) => when(t.eta_next_stop)],
      ["Late risk", riskCell],
    ], trips, { onSelect: showTrip }));
    list.dataset.ready = "true";
  }
  const dashboard = ctx.can("dashboard:read") ? api("/dashboard", { poll: true }).catch(() => null) : Promise.resolve(null);
  await load();
  const d = await dashboard;
  if (d) kpis.replaceChildren(
    el("div", {}, `Active trips: ${d.trips.active ?? "—"}`), el("div", {}, `Late: ${d.trips.late ?? "—"}`),
    el("div", {}, `Trucks moving: ${d.trucks.moving} of ${d.trucks.active}`), el("div", {}, `Drivers low on hours: ${d.drivers_low_on_hours}`),
    el("div", {}, `Open alerts: ${Object.entries(d.open_alerts_by_severity).map(([k, v]) => `${v} ${k}`).join(", ") || "none"}`));
  ctx.poll(() => load().catch(() => {}), 15000);
}

// ---- fleet map -----------------------------------------------------------------------------

let atlas = null;
const stateOf = (truck) => (truck.status !== "active" ? truck.status.replaceAll("_", " ") : (truck.speed_mph ?? 0) > 3 ? "moving" : "stopped");

// The map's libraries load with the map, so the board (the first view) does not wait for them.
function script(src) {
  return new Promise((resolve, reject) => {
    const tag = el("script", { src, onload: resolve, onerror: () => reject(new Error(`could not load ${src}`)) });
    document.head.append(tag);
  });
}

async function mapLibraries() {
  if (!globalThis.d3?.geoPath) {
    await script("/console/vendor/d3-array.min.js");
    await Promise.all([script("/console/vendor/d3-geo.min.js"), script("/console/vendor/topojson-client.min.js")]);
  }
  if (!atlas) atlas = await (await fetch("/console/vendor/states-albers-10m.json")).json();
}

async function renderMap(ctx) {
  await mapLibraries();
  const { geoPath, geoAlbersUsa } = globalThis.d3;
  const states = globalThis.topojson.feature(atlas, atlas.objects.states);
  const projection = geoAlbersUsa().scale(1300).translate([487.5, 305]);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 975 610");
  svg.setAttribute("class", "map");
  svg.setAttribute("role", "group");
  svg.setAttribute("aria-label", "Fleet map: trucks at their last known position");
  const base = geoPath();
  for (const feature of states.features) {
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", base(feature));
    path.setAttribute("class", "state");
    path.setAttribute("aria-hidden", "true");
    svg.append(path);
  }
  const layer = document.createElementNS(ns, "g");
  svg.append(layer);
  const panel = el("div", { class: "panel", id: "truck-detail", "aria-live": "polite" }, el("p", { class: "muted" }, "Select a truck (click, or Tab and Enter) for its driver, trip, hours left and last event."));
  const caption = el("p", { class: "muted", id: "map-caption" });
  ctx.section.replaceChildren(el("h2", {}, "Fleet map"),
    el("p", { class: "legend" }, el("span", {}, el("span", { class: "dot st-moving", style: "background:#1e6b34" }), " moving"),
      el("span", {}, el("span", { class: "dot", style: "background:#8a5a00" }), " stopped"),
      el("span", {}, el("span", { class: "dot", style: "background:#5a6270" }), " inactive / out of service")),
    el("div", { class: "split" }, el("div", {}, svg, caption), panel));

  const showTruck = async (truck) => {
    panel.replaceChildren(el("h3", {}, `Truck ${truck.unit_number}`),
      el("p", {}, `${stateOf(truck)}, ${Math.round(truck.speed_mph ?? 0)} mph, seen ${when(truck.recorded_at)}`),
      el("p", {}, truck.formatted_address ?? `${truck.latitude.toFixed(3)}, ${truck.longitude.toFixed(3)}`));
    const page = ctx.can("trips:read") ? await explainInto(panel, api(`/trips?vehicle_id=${truck.vehicle_id}&status=in_transit&status=dispatched&limit=1`)) : null;
    const trip = page?.items?.[0];
    panel.append(el("dl", {}, el("dt", {}, "Driver"), el("dd", {}, trip?.driver?.full_name ?? "no active trip"),
      el("dt", {}, "Trip"), el("dd", {}, trip ? `${trip.load_number ?? trip.id} — ${trip.status.replace("_", " ")}, ETA ${when(trip.eta_next_stop)}` : "—")));
    if (trip?.driver && ctx.can("hos:read")) {
      const clock = await explainInto(panel, api(`/hos/clocks/${trip.driver.id}`));
      if (clock) panel.append(el("p", {}, `HOS left: drive ${minutes(clock.drive_remaining_minutes)}, shift ${minutes(clock.shift_remaining_minutes)}, cycle ${minutes(clock.cycle_remaining_minutes)}`));
    }
    if (ctx.can("safety:read")) {
      const events = await explainInto(panel, api(`/safety_events?vehicle_id=${truck.vehicle_id}&limit=1`));
      const last = events?.items?.[0];
      panel.append(el("p", {}, last ? `Last event: ${last.behavior_labels.join(", ") || "safety event"} (${last.severity}) at ${when(last.occurred_at)}` : "Last event: none recorded"));
    }
  };

  async function load() {
    const fleet = await api("/locations/latest", { poll: true });
    layer.replaceChildren();
    let placed = 0;
    for (const truck of fleet.items) {
      const point = projection([truck.longitude, truck.latitude]);
      if (!point) continue;
      placed += 1;
      const dot = document.createElementNS(ns, "circle");
      const kind = truck.status !== "active" ? "other" : (truck.speed_mph ?? 0) > 3 ? "moving" : "stopped";
      dot.setAttribute("cx", point[0].toFixed(1));
      dot.setAttribute("cy", point[1].toFixed(1));
      dot.setAttribute("r", "6");
      dot.setAttribute("class", `truck st-${kind}`);
      dot.setAttribute("tabindex", "0");
      dot.setAttribute("role", "button");
      dot.setAttribute("aria-label", `Truck ${truck.unit_number}, ${stateOf(truck)}`);
      dot.addEventListener("click", () => showTruck(truck));
      dot.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); showTruck(truck); } });
      const title = document.createElementNS(ns, "title");
      title.textContent = `${truck.unit_number} (${stateOf(truck)})`;
      dot.append(title);
      layer.append(dot);
    }
    // Trucks without a position yet (`unplaced`) are part of the fleet too, and named.
    const unplaced = fleet.unplaced ?? [];
    const missing = [...fleet.items.filter((t) => !projection([t.longitude, t.latitude])).map((t) => t.unit_number), ...unplaced.map((t) => t.unit_number)];
    caption.textContent = `${placed} of ${fleet.total + unplaced.length} trucks placed on the map`
      + (missing.length ? ` — missing: ${missing.join(", ")}` : "")
      + `; positions as of ${when(fleet.items[0]?.recorded_at)}.`;
  }
  await load();
  ctx.poll(() => load().catch(() => {}), 15000);
}

// ---- alerts ---------------------------------------------------------------------------------

const SEVERITY_ORDER = { critical: 0, warning: 1, info: 2 };

async function renderAlerts(ctx) {
  const list = el("div", { id: "alerts" });
  const detail = el("div", { class: "panel", id: "alert-detail", "aria-live": "polite" }, el("p", { class: "muted" }, "Select an alert to see why it fired."));
  ctx.section.replaceChildren(el("h2", {}, "Open alerts"), el("div", { class: "split" }, list, detail));
  const writable = ctx.can("alerts:write");

  const act = async (alert, action, body) => {
    try {
      await api(`/alerts/${alert.id}/${action}`, { method: "POST", json: body });
      detail.replaceChildren(el("p", { role: "status" }, `Alert ${alert.id}: ${action === "ack" ? "acknowledged" : action === "snooze" ? "snoozed for an hour" : "resolved"}.`));
      await load();
    } catch (error) {
      if (error instanceof ApiError) detail.append(el("p", { class: "notice", role: "alert" }, error.explain()));
      else throw error;
    }
  };

  const showAlert = async (alert, tr) => {
    select(tr);
    detail.replaceChildren(el("h3", {}, alert.title), el("p", {}, alert.message));
    if (writable) detail.append(el("div", { class: "actions" },
      el("button", { type: "button", onclick: () => act(alert, "ack") }, "Acknowledge"),
      el("button", { type: "button", class: "secondary", onclick: () => act(alert, "snooze", { minutes: 60 }) }, "Snooze 1 h"),
      el("button", { type: "button", class: "secondary", onclick: () => act(alert, "resolve", { note: "resolved from the console" }) }, "Resolve")));
    const full = await explainInto(detail, api(`/alerts/${alert.id}`));
    if (!full) return;
    detail.append(el("h4", {}, "Why it fired"), el("ul", {}, full.decisions.map((d) =>
      el("li", {}, `${when(d.at)} — ${d.decision}${d.reason ? `: ${d.reason}` : ""}`))));
    if (full.deliveries.length) detail.append(el("p", { class: "muted" }, `Slack: ${full.deliveries.map((d) => `${d.kind ?? "message"} ${d.status}`).join(", ")}`));
  };

  async function load() {
    const page = await api("/alerts?status=open&status=acknowledged&limit=200", { poll: true });
    const alerts = [...page.items].sort((a, b) => (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9) || b.last_seen_at.localeCompare(a.last_seen_at));
    list.replaceChildren(table(`${page.total} open or acknowledged alerts, most severe first`, [
      ["Severity", (a) => el("span", { class: `sev-${a.severity}` }, a.severity)], ["Alert", (a) => a.title],
      ["Status", (a) => a.status], ["Last seen", (a) => when(a.last_seen_at)], ["Seen", (a) => `${a.occurrences}×`],
    ], alerts, { onSelect: showAlert }));
  }
  await load();
  ctx.poll(() => load().catch(() => {}), 15000);
}

// ---- calls ----------------------------------------------------------------------------------

async function renderCalls(ctx) {
  const list = el("div", { id: "calls" });
  const detail = el("div", { class: "panel", id: "call-detail", "aria-live": "polite" }, el("p", { class: "muted" }, "Select a call for its transcript and insights."));
  ctx.section.replaceChildren(el("h2", {}, "Calls"));
  if (ctx.can("calls:place")) {
    const driver = el("input", { id: "c-driver", type: "number", min: 1, required: true });
    const purpose = el("select", { id: "c-purpose" }, ["late_load_check", "hos_check", "violation_coaching"].map((p) => el("option", { value: p }, p.replaceAll("_", " "))));
    const provider = el("select", { id: "c-provider" }, ["vapi", "elevenlabs"].map((p) => el("option", { value: p }, p === "vapi" ? "VAPI" : "ElevenLabs")));
    const result = el("p", { id: "c-result", "aria-live": "polite" });
    // A supervisor (calls:admin) may call a driver the safe-to-call check would refuse.
    const override = ctx.can("calls:admin") ? el("input", { id: "c-override", type: "checkbox" }) : null;
    ctx.section.append(el("form", { class: "filters", "aria-label": "Call driver", onsubmit: async (e) => {
      e.preventDefault();
      result.replaceChildren();
      try {
        const json = { driver_id: Number(driver.value), purpose: purpose.value, provider: provider.value };
        if (override?.checked) json.safety_override = true;
        const call = await api("/calls", { method: "POST", json });
        result.replaceChildren(`Call ${call.id} placed (${call.status}).`);
        await load();
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        result.replaceChildren(el("span", { class: "notice", role: "alert" }, `Refused: ${error.detail || error.code} (${error.code}).`));
      }
    } }, el("div", {}, el("label", { for: "c-driver" }, "Driver id"), driver),
      el("div", {}, el("label", { for: "c-purpose" }, "Purpose"), purpose),
      el("div", {}, el("label", { for: "c-provider" }, "Provider"), provider),
      override ? el("div", {}, override, el("label", { for: "c-override" }, "Call even if driving or resting")) : "",
      el("button", { type: "submit" }, "Call driver"), result));
  }
  ctx.section.append(el("div", { class: "split" }, list, detail));

  const showCall = async (call, tr) => {
    select(tr);
    detail.replaceChildren(el("h3", {}, `Call ${call.id}`));
    const full = await explainInto(detail, api(`/calls/${call.id}`));
    if (!full) return;
    detail.append(el("p", {}, `${full.status}${full.outcome ? ` — ${full.outcome}` : ""}, ${full.duration_seconds ?? 0} s`),
      el("p", {}, full.summary ?? ""));
    const insight = full.insight;
    if (insight) detail.append(el("h4", {}, "Insights"), el("ul", { id: "insights" },
      el("li", {}, `Reported delay: ${insight.reported_delay_minutes === null ? "none" : `${insight.reported_delay_minutes} min`}`),
      el("li", {}, `Reported ETA: ${insight.reported_eta ? when(insight.reported_eta) : insight.reported_eta_text ?? "—"}`),
      el("li", {}, `Location: ${insight.reported_location ?? "—"}`),
      el("li", {}, `Issues: ${insight.issues.join(", ") || "none"}`),
      el("li", {}, `Follow-up: ${insight.needs_follow_up ? insight.follow_up_reason ?? "yes" : "no"}`)));
    detail.append(el("h4", {}, "Transcript"), el("div", { class: "transcript" },
      full.transcript.length ? full.transcript.map((t) => el("p", {}, el("strong", {}, `${t.role ?? t.speaker ?? "?"}: `), t.text ?? t.message ?? "")) : el("p", { class: "muted" }, "No transcript yet.")));
  };

  async function load() {
    const page = await api("/calls?limit=100", { poll: true });
    list.replaceChildren(table(`${page.total} calls, newest first`, [
      ["Call", (c) => c.id], ["Driver", (c) => c.driver_id ?? "—"], ["Purpose", (c) => c.purpose.replaceAll("_", " ")],
      ["Status", (c) => el("span", { class: "call-status" }, c.status)], ["Outcome", (c) => c.outcome ?? "—"], ["Dialed", (c) => when(c.dialed_at)],
    ], page.items, { onSelect: showCall }));
  }
  await load();
  ctx.poll(() => load().catch(() => {}), 5000);
}

// ---- campaigns, scorecards, morning report ------------------------------------------------

const WAITING = {
  campaign_draft: "campaign not started", campaign_paused: "campaign paused", before_schedule: "before the schedule",
  retry_later: "retry delay", do_not_call: "do not call", outside_window: "outside the calling window",
  active_call: "on another call", daily_max: "daily call limit reached", concurrency: "campaign at its concurrency", due: "due at the next tick",
};

async function renderCampaigns(ctx) {
  const page = await api("/campaigns?limit=100");
  const panel = el("div", { class: "panel", id: "campaign-detail", "aria-live": "polite" }, el("p", { class: "muted" }, "Select a campaign (click, or Tab and Enter) for its progress and why targets wait."));
  const showCampaign = async (c, tr) => {
    select(tr);
    const detail = await explainInto(panel, api(`/campaigns/${c.id}`));
    if (!detail) return;
    const p = detail.progress;
    const waiting = Object.entries(p.waiting);
    panel.replaceChildren(el("h3", {}, detail.name),
      el("p", {}, `${p.finished} of ${detail.target_count} targets finished (${p.percent_finished} %), ${p.in_flight} in flight, ${detail.calls_placed} calls placed.`),
      el("p", {}, `By state: ${Object.entries(p.by_state).filter(([, n]) => n).map(([s, n]) => `${n} ${s.replace("_", " ")}`).join(", ") || "none"}`),
      el("h4", {}, "Waiting"),
      waiting.length ? el("ul", { id: "campaign-waiting" }, waiting.map(([why, n]) => el("li", {}, `${n} — ${WAITING[why] ?? why}`))) : el("p", { class: "muted" }, "No target is waiting."),
      detail.status_reason ? el("p", { class: "notice" }, detail.status_reason) : null);
  };
  ctx.section.replaceChildren(el("h2", {}, "Campaigns"), el("div", { class: "split" }, table(`${page.total} campaigns`, [
    ["Name", (c) => c.name], ["Purpose", (c) => c.purpose.replaceAll("_", " ")], ["Status", (c) => c.status],
    // Finished targets, never calls: retries would over-fill the bar ("6 calls / 5 targets").
    ["Progress", (c) => el("span", {}, el("progress", { max: c.target_count || 1, value: Math.min(c.targets_finished, c.target_count), "aria-label": `${c.name} progress` }), ` ${c.targets_finished} of ${c.target_count} targets finished · ${c.calls_placed} calls`)],
    ["Window", (c) => `${c.window_start}–${c.window_end}`], ["Started", (c) => when(c.started_at)],
  ], page.items, { onSelect: showCampaign }), panel));
}

const isoDay = (offsetDays = 0) => {
  const d = new Date(Date.now() + offsetDays * 86400000);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
};

// A date picker above a report body; `show(day, body)` fills the body, and a 404 for a report
// not built yet offers to build it when the user may generate reports.
function reportFrame(ctx, title, initialDay, show, generatePath) {
  const day = el("input", { id: "r-day", type: "date", value: initialDay, required: true });
  const body = el("div", { id: "report", "aria-live": "polite" });
  const load = async () => {
    body.replaceChildren(el("p", { class: "muted" }, "Loading…"));
    try {
      await show(day.value, body);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      // A report not built yet is normal (reports are built at each scope's send time):
      // say so, and offer to build it, instead of a bare "not found".
      body.replaceChildren(el("p", { class: "notice", role: "alert" }, error.status === 404
        ? `No report for ${day.value} yet: reports are built at each terminal's send time (morning report) or after ingest (scorecards).${ctx.can("reports:generate") ? "" : " Ask someone with reports:generate to build it."}`
        : error.explain()));
      if (error.status === 404 && ctx.can("reports:generate")) body.append(el("button", {
        type: "button", onclick: async () => { await api(`${generatePath}?date=${day.value}${generatePath.includes("morning") ? "&deliver=false" : ""}`, { method: "POST" }); await load(); },
      }, `Build it for ${day.value}`));
    }
  };
  ctx.section.replaceChildren(el("h2", {}, title),
    el("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); load(); } },
      el("div", {}, el("label", { for: "r-day" }, "Day (local)"), day), el("button", { type: "submit" }, "Show")), body);
  return load();
}

function renderScorecards(ctx) {
  return reportFrame(ctx, "Driver scorecards", isoDay(-1), async (day, body) => {
    const page = await api(`/reports/drivers?date=${day}&limit=200`);
    body.replaceChildren(table(`${page.total} drivers on ${page.report_date}, lowest safety score first`, [
      ["Driver", (r) => r.driver_name], ["Terminal", (r) => r.terminal ?? "—"],
      ["Safety score", (r) => (r.safety_score === null
        ? el("span", { class: "muted", title: r.score_withheld_reason ?? "" }, "not scored")
        : el("strong", {}, r.safety_score.toFixed(0)))],
      ["7-day trend", (r) => (r.trend_7d === null ? "—" : `${r.trend_7d > 0 ? "+" : ""}${r.trend_7d.toFixed(1)}`)],
      ["Miles", (r) => r.miles.toFixed(0)], ["On time", (r) => (r.on_time_pct === null ? "—" : `${r.on_time_pct.toFixed(0)} %`)],
      ["HOS violations", (r) => r.hos_violations], ["Safety events", (r) => r.safety_events], ["Calls", (r) => r.calls],
    ], page.items), el("p", { class: "muted" }, `Score: ${page.score_formula}`));
  }, "/reports/drivers/generate");
}

function renderMorning(ctx) {
  return reportFrame(ctx, "Morning report", isoDay(0), async (day, body) => {
    const report = await api(`/reports/morning?date=${day}`);
    const chart = await api(`/reports/morning/chart.png?date=${day}`, { raw: true }).then((r) => r.blob()).catch(() => null);
    body.replaceChildren(
      el("p", { class: "muted" }, `${report.terminal || "Fleet"} report for ${report.report_date} (${report.timezone}), generated ${when(report.generated_at)}`),
      chart ? el("img", { src: URL.createObjectURL(chart), alt: "Loads by customer, and drivers by score band", width: 600 }) : null,
      el("pre", { tabindex: 0, "aria-label": "Report contents" }, JSON.stringify(report.body, null, 2)));
  }, "/reports/morning/generate");
}

export const VIEWS = {
  board: { title: "Trips board", needs: "trips:read", render: renderBoard },
  map: { title: "Fleet map", needs: "locations:read", render: renderMap },
  alerts: { title: "Alerts", needs: "alerts:read", render: renderAlerts },
  calls: { title: "Calls", needs: "calls:read", render: renderCalls },
  campaigns: { title: "Campaigns", needs: "campaigns:read", render: renderCampaigns },
  scorecards: { title: "Scorecards", needs: "reports:read", render: renderScorecards },
  morning: { title: "Morning report", needs: "reports:read", render: renderMorning },
};
export { zoneName };
