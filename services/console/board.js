// The trips board: KPI tiles, filters (status, terminal, customer, fleet manager, late, text),
// a sortable table with a stale-GPS marker, and one panel that says why the selected trip is
// late or at risk, with the actions a dispatcher takes from there (call, share, acknowledge).

import { api, ApiError } from "/console/api.js";
import { definitions, el, explainInto, field, freshness, options, place, sortParam, table } from "/console/dom.js";
import { ago, formatDuration, REST_NAMES, when, words } from "/console/format.js";

const ACTIVE = ["dispatched", "in_transit"];
// The board opens on the latest trips first, over the whole list (the API sorts, not the page).
const DEFAULT_SORT = "-late_risk_minutes";
// The board's first read with no filter (app.js starts it beside /auth/me).
export const FIRST_PAGE = `/trips?limit=200&${ACTIVE.map((s) => `status=${s}`).join("&")}&sort=${DEFAULT_SORT}`;
const DEFAULT_FRESH_MINUTES = 30; // the dashboard's own window when it cannot be read

export function riskCell(trip) {
  const risk = trip.late_risk_minutes;
  if (risk === null || risk === undefined) return el("span", { class: "muted" }, "no ETA");
  return risk > 0 ? el("span", { class: "risk-late" }, `${formatDuration(risk)} late`)
    : el("span", { class: "risk-ok" }, `on time (${formatDuration(-risk)} spare)`);
}

const ageMinutes = (iso) => (iso ? (Date.now() - new Date(iso)) / 60000 : null);

function gpsCell(trip, freshMinutes) {
  const seen = trip.last_position?.recorded_at;
  if (!seen) return el("span", { class: "stale" }, "no GPS");
  const age = ageMinutes(seen);
  return age > freshMinutes ? el("span", { class: "stale", title: `last position ${when(seen)}` }, `⚠ stale ${formatDuration(age)}`)
    : el("span", { class: "muted" }, ago(seen));
}

const stopName = (stop) => (stop ? `${stop.name ?? "stop"}${stop.city ? ` (${stop.city}, ${stop.state ?? ""})` : ""}` : "none left");

function verdict(trip) {
  const risk = trip.late_risk_minutes;
  const stop = trip.next_stop;
  // role=status: the verdict is read out when a trip is opened, not the whole panel.
  if (risk === null || risk === undefined) return el("p", { class: "verdict muted", role: "status" }, "No ETA yet: the truck has no position or the next stop no place.");
  const at = stop ? ` at ${stopName(stop)} (appointment ends ${when(stop.appointment_end ?? stop.appointment_start)})` : "";
  return risk > 0 ? el("p", { class: "verdict risk-late", role: "status" }, `Expected ${formatDuration(risk)} late${at}.`)
    : el("p", { class: "verdict risk-ok", role: "status" }, `On time${at}, ${formatDuration(-risk)} to spare.`);
}

function legalLine(trip, projection) {
  if (!trip.eta_next_stop_legal) return "—";
  const binding = trip.hos_binding_clock ?? projection?.binding_clock;
  const binds = trip.hos_binds_at ?? projection?.binds_at;
  return `${when(trip.eta_next_stop_legal)}${binding ? ` — the ${binding} clock binds at ${when(binds)}` : " — no clock runs out first"}`;
}

function restsList(projection) {
  if (!projection) return "—";
  if (!projection.rests.length) return "none needed before the last stop";
  return el("ul", { class: "plain" }, projection.rests.map((r) => el("li", {}, `${REST_NAMES[r.kind] ?? r.kind} (${r.clock} clock) ${when(r.start)} – ${when(r.end)}`)));
}

function leftLine(projection) {
  if (!projection || projection.miles_left === null || projection.miles_left === undefined) return "—";
  return `${Math.round(projection.miles_left)} mi, ${formatDuration(projection.drive_minutes_left)} of driving`;
}

function reportedLine(trip) {
  if (trip.driver_reported_delay_minutes === null || trip.driver_reported_delay_minutes === undefined) return "nothing reported";
  const delay = trip.driver_reported_delay_minutes > 0 ? `${formatDuration(trip.driver_reported_delay_minutes)} delay` : "on time";
  return `${delay}, said ${when(trip.driver_reported_at)} (${ago(trip.driver_reported_at)})`;
}

function visitsTable(trip) {
  const rows = trip.stops.flatMap((stop) => (stop.visits?.length ? stop.visits.map((v) => ({ stop, v })) : [{ stop, v: null }]));
  return table("Stops and visits (dwell; detention past free time)", [
    ["#", ({ stop }) => stop.sequence], ["Stop", ({ stop }) => stopName(stop)],
    ["Window", ({ stop }) => `${when(stop.appointment_start)} – ${when(stop.appointment_end)}`],
    ["Arrived", ({ v, stop }) => when(v?.arrived_at ?? stop.arrived_at)], ["Left", ({ v, stop }) => when(v?.departed_at ?? stop.departed_at)],
    ["Dwell", ({ v }) => (v ? formatDuration(v.dwell_minutes) : "—")],
    ["Detention", ({ v }) => (v?.detention_minutes ? el("strong", { class: "risk-late" }, formatDuration(v.detention_minutes)) : "—")],
    ["Source", ({ v }) => words(v?.source)],
  ], rows);
}

export async function renderBoard(ctx) {
  const state = { table: { sort: [7, -1] }, page: null, trip: null, freshMinutes: DEFAULT_FRESH_MINUTES };
  const statusBox = el("select", { id: "f-status" }, el("option", { value: "" }, "active (any)"),
    ["planned", "dispatched", "in_transit", "delivered", "cancelled"].map((s) => el("option", { value: s }, words(s))));
  const terminal = el("select", { id: "f-terminal" }, options([], "", "all terminals"));
  const customer = el("select", { id: "f-customer" }, options([], "", "all customers"));
  const manager = el("select", { id: "f-manager" }, options([], "", "all fleet managers"));
  // The choices arrive beside the first page, not before it.
  const facets = api("/trips/facets").then((f) => {
    terminal.append(...options(f.terminals, "", "").slice(1));
    customer.append(...options(f.customers, "", "").slice(1));
    manager.append(...options(f.fleet_managers, "", "").slice(1));
  }).catch(() => {});
  const lateBox = el("input", { id: "f-late", type: "checkbox" });
  const search = el("input", { id: "f-q", type: "search", placeholder: "load, customer, driver" });
  const kpis = el("div", { class: "kpis", id: "kpis" });
  const list = el("div", { id: "board" });
  const detail = el("div", { class: "panel", id: "trip-detail", tabindex: -1 }, el("p", { class: "muted" }, "Select a trip to see why it is late or at risk, and act on it."));
  const updated = freshness();
  const reload = () => load().catch(ctx.report);
  ctx.section.replaceChildren(el("div", { class: "title-row" }, el("h2", {}, "Trips board"), updated.node), kpis,
    el("form", { class: "filters", role: "search", "aria-label": "Filter trips", onsubmit: (e) => { e.preventDefault(); reload(); } },
      field("f-status", "Status", statusBox), field("f-terminal", "Terminal", terminal), field("f-customer", "Customer", customer),
      field("f-manager", "Fleet manager", manager), field("f-q", "Search", search),
      el("div", { class: "check" }, lateBox, el("label", { for: "f-late" }, "Late risk only")),
      el("button", { type: "submit" }, "Apply")),
    el("div", { class: "split" }, list, detail));
  for (const box of [statusBox, terminal, customer, manager, lateBox]) box.addEventListener("change", reload);

  const showTrip = async (trip, reveal = true) => {
    state.trip = trip.id;
    const full = await explainInto(detail, api(`/trips/${trip.id}`));
    if (!full || state.trip !== trip.id) return;
    const driverId = full.driver?.id;
    const [projection, alerts, calls] = await Promise.all([
      driverId && ctx.can("hos:read") ? api(`/drivers/${driverId}/hos-projection`).catch(() => null) : null,
      ctx.can("alerts:read") ? api(`/alerts?trip_id=${trip.id}&status=open&status=acknowledged&limit=20`).catch(() => null) : null,
      ctx.can("calls:read") ? api(`/calls?trip_id=${trip.id}&limit=5`).catch(() => null) : null,
    ]);
    if (state.trip !== trip.id) return;
    const panel = [el("h3", {}, `Load ${full.load_number ?? full.id}`, el("span", { class: "muted" }, ` · ${full.customer ?? "no customer"} · ${words(full.status)}`)),
      verdict(full),
      el("h4", {}, "Why"),
      definitions([
        ["Driver", full.driver ? el("a", { href: `#driver/${full.driver.id}` }, full.driver.full_name) : "none assigned"],
        ["Truck", full.vehicle ? [full.vehicle.unit_number ?? `#${full.vehicle.id}`, " ", el("a", { href: `#map/${full.vehicle.id}` }, "on the map, with the planned route")] : "—"],
        ["Next stop", stopName(full.next_stop)],
        ["Appointment", full.next_stop ? `${when(full.next_stop.appointment_start)} – ${when(full.next_stop.appointment_end)}` : "—"],
        ["ETA (driving)", when(full.eta_next_stop)],
        ["Legal ETA", legalLine(full, projection)],
        ["Left to drive", leftLine(projection)],
        ["Required rests", restsList(projection)],
        ["Driver reported", reportedLine(full)],
        ["Last GPS", full.last_position ? [when(full.last_position.recorded_at), " ", gpsCell(full, state.freshMinutes)] : el("span", { class: "stale" }, "no position")],
      ]),
      actions(ctx, full),
      visitsTable(full)];
    if (alerts) panel.push(el("h4", {}, "Alerts on this trip"), alerts.items.length ? el("ul", { class: "plain", id: "trip-alerts" }, alerts.items.map((a) => el("li", {},
      el("span", { class: `sev-${a.severity}` }, a.severity), ` ${a.title} (${a.status}, ${ago(a.last_seen_at)}) `,
      a.status === "open" && ctx.can("alerts:write") ? el("button", { type: "button", class: "secondary", onclick: async (e) => {
        e.currentTarget.disabled = true;
        const done = await explainInto(detail, api(`/alerts/${a.id}/ack`, { method: "POST" }));
        if (done) { ctx.say(`Alert “${a.title}” acknowledged.`); showTrip(trip); }
      } }, "Acknowledge") : null))) : el("p", { class: "muted" }, "No open alert."));
    if (calls) panel.push(el("h4", {}, "Calls about this trip"), calls.items.length ? el("ul", { class: "plain", id: "trip-calls" }, calls.items.map((c) => el("li", {},
      `${when(c.created_at ?? c.dialed_at)}: ${words(c.purpose)} — ${c.status}${c.outcome ? `, ${words(c.outcome)}` : ""}${c.summary ? `. ${c.summary}` : ""}`))) : el("p", { class: "muted" }, "No call yet."));
    detail.replaceChildren(...panel);
    // Below the table (narrow windows) the panel would open out of sight.
    if (reveal && detail.getBoundingClientRect().top > innerHeight) detail.scrollIntoView({ block: "start" });
  };

  // The third field is the API's sort key: a click sorts every matching trip, not this page.
  const columns = [
    ["Load", (t) => t.load_number ?? t.id, "load_number"], ["Status", (t) => words(t.status), "status"],
    ["Driver", (t) => t.driver?.full_name ?? "—", "driver"], ["Truck", (t) => t.vehicle?.unit_number ?? "—", "truck"],
    ["Customer", (t) => t.customer ?? "—", "customer"], ["Terminal", (t) => t.terminal ?? "—", "terminal"],
    ["ETA next stop", (t) => when(t.eta_next_stop), "eta_next_stop"], ["Late risk", riskCell, "late_risk_minutes"],
    ["GPS", (t) => gpsCell(t, state.freshMinutes), "last_position_at"],
  ];

  async function load() {
    const params = new URLSearchParams({ limit: "200" });
    for (const s of statusBox.value ? [statusBox.value] : ACTIVE) params.append("status", s);
    if (terminal.value) params.set("terminal", terminal.value);
    if (customer.value) params.set("customer", customer.value);
    if (manager.value) params.set("fleet_manager", manager.value);
    if (lateBox.checked) params.set("late_only", "true");
    if (search.value.trim()) params.set("q", search.value.trim());
    params.set("sort", sortParam(columns, state.table) ?? DEFAULT_SORT);
    const [page, dashboard] = await Promise.all([api(`/trips?${params}`, { poll: true }),
      ctx.can("dashboard:read") ? api("/dashboard", { poll: true }).catch(() => null) : null]);
    updated.stamp();
    if (dashboard) {
      state.freshMinutes = dashboard.gps_fresh_minutes ?? DEFAULT_FRESH_MINUTES;
      showKpis(kpis, dashboard);
    }
    if (page === state.page) return; // 304: nothing changed
    const first = state.page === null;
    state.page = page;
    const shown = page.items.length < page.total ? `${page.items.length} of ${page.total}` : `${page.total}`;
    place(list, table(`${shown} trip${page.total === 1 ? "" : "s"}; sort by any column`, columns, page.items, { onSelect: showTrip, onSort: reload, state: state.table }));
    list.dataset.ready = "true";
    // A change elsewhere refreshes the open trip too, unless the user is working in it.
    const open = page.items.find((t) => t.id === state.trip);
    if (!first && open && !detail.contains(document.activeElement)) showTrip(open, false);
  }
  await load();
  // "#board/12" opens trip 12 (links from alerts and the driver page), listed or not.
  const asked = Number(ctx.args[0]);
  if (Number.isInteger(asked) && asked > 0) await showTrip(state.page.items.find((t) => t.id === asked) ?? { id: asked });
  await facets;
  ctx.poll(() => load().catch(() => {}), 5000);
  ctx.tick(() => updated.paint());
}

function showKpis(box, d) {
  const alerts = Object.entries(d.open_alerts_by_severity).map(([k, v]) => `${v} ${k}`).join(", ") || "none";
  box.replaceChildren(...[
    ["Active trips", d.trips.active], ["Late", d.trips.late], ["Trucks moving", `${d.trucks.moving} of ${d.trucks.active}`],
    ["No recent GPS", d.trucks.no_recent_gps], ["Drivers low on hours", d.drivers_low_on_hours], ["Open alerts", alerts],
  ].map(([label, value]) => el("div", { "data-kpi": label }, el("span", { class: "kpi-label" }, label), el("strong", {}, String(value ?? "—")))));
}

// Call the driver by name; share the trip with its customer (the link is copied).
function actions(ctx, trip) {
  const result = el("p", { class: "action-result", "aria-live": "polite" });
  const buttons = [];
  const driver = trip.driver;
  if (driver && ctx.can("calls:place")) {
    const call = async (override) => {
      result.replaceChildren(`Calling ${driver.full_name}…`);
      try {
        // VAPI, the hub's default provider (as for campaigns); the Calls view offers the others.
        const json = { driver_id: driver.id, trip_id: trip.id, purpose: "late_load_check", provider: "vapi" };
        if (override) json.safety_override = true;
        const placed = await api("/calls", { method: "POST", json });
        result.replaceChildren(`Call to ${driver.full_name} placed (${placed.status}); it shows under “Calls about this trip” and in Calls.`);
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        result.replaceChildren(el("span", { class: "notice", role: "alert" }, `Not called — ${driver.full_name}: ${error.detail || error.code}.`));
        if (!override && ctx.can("calls:admin") && ["driver_driving", "driver_resting"].includes(error.code)) {
          result.append(" ", el("button", { type: "button", class: "secondary", onclick: () => call(true) }, "Call anyway (supervisor)"));
        }
      }
    };
    buttons.push(el("button", { type: "button", onclick: () => call(false) }, `Call ${driver.full_name}`));
  }
  if (ctx.can("trips:write")) {
    buttons.push(el("button", { type: "button", class: "secondary", onclick: async () => {
      result.replaceChildren("Creating a tracking link…");
      try {
        const share = await api(`/trips/${trip.id}/share`, { method: "POST" });
        const link = el("input", { id: "share-url", readonly: true, value: share.url, "aria-label": "Tracking link", size: 40 });
        let copied = true;
        try { await navigator.clipboard.writeText(share.url); } catch { copied = false; }
        result.replaceChildren(copied ? "Link copied — paste it to the customer. " : "Copy this link for the customer: ", link, ` (valid until ${when(share.expires_at)})`);
        if (!copied) link.select();
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        result.replaceChildren(el("span", { class: "notice", role: "alert" }, error.explain()));
      }
    } }, "Share with customer"));
  }
  // A message goes beside the call: in-cab or SMS, about this trip (the reply lands in the
  // driver's conversation).
  // The form's module loads when it is first opened: the board's first paint does not wait.
  const message = driver && ctx.can("calls:place") ? el("details", { class: "message" }, el("summary", {}, `Message ${driver.full_name}`)) : null;
  message?.addEventListener("toggle", async () => {
    if (!message.open || message.querySelector("form")) return;
    const { messageForm } = await import("/console/messages.js");
    message.append(messageForm(driver, { tripId: trip.id, text: `Load ${trip.load_number ?? trip.id}: what is your ETA${trip.next_stop?.name ? ` to ${trip.next_stop.name}` : ""}? Any delay?` }));
  });
  return buttons.length ? el("div", {}, el("div", { class: "actions" }, buttons), message, result) : el("div");
}
