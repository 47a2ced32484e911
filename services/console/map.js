// The fleet map: every truck at its last position on an offline US map (us-atlas + d3-geo,
// loaded with this view only), labelled by unit; search by truck or driver; trucks held at a
// stop are ringed and their dwell and detention named; a selected truck's trip is drawn as its
// planned route (stop to stop, and from the truck to its next stop). "#map/12" opens truck 12.

import { api } from "/console/api.js";
import { el, explainInto, field, fill, freshness } from "/console/dom.js";
import { formatDuration, when, words } from "/console/format.js";

const NS = "http://www.w3.org/2000/svg";
let atlas = null;

const stateOf = (truck) => (truck.status !== "active" ? words(truck.status) : (truck.speed_mph ?? 0) > 3 ? "moving" : "stopped");

function script(src) {
  return new Promise((resolve, reject) => {
    document.head.append(el("script", { src, onload: resolve, onerror: () => reject(new Error(`could not load ${src}`)) }));
  });
}

async function mapLibraries() {
  if (!globalThis.d3?.geoPath) {
    await script("/console/vendor/d3-array.min.js");
    await Promise.all([script("/console/vendor/d3-geo.min.js"), script("/console/vendor/topojson-client.min.js")]);
  }
  if (!atlas) atlas = await (await fetch("/console/vendor/states-albers-10m.json")).json();
}

function svgNode(tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// Which trucks are held at a stop now: open visits, joined to their trips' trucks.
function heldTrucks(visits, trips) {
  const truckOf = new Map(trips.map((t) => [t.id, t.vehicle?.id]));
  const held = new Map();
  for (const visit of visits) {
    const vehicle = truckOf.get(visit.trip_id);
    if (vehicle) held.set(vehicle, { visit });
  }
  return held;
}

export async function renderMap(ctx) {
  await mapLibraries();
  const { geoPath, geoAlbersUsa } = globalThis.d3;
  const projection = geoAlbersUsa().scale(1300).translate([487.5, 305]);
  const svg = svgNode("svg", { viewBox: "0 0 975 610", class: "map", role: "group", "aria-label": "Fleet map: trucks at their last known position" });
  const base = geoPath();
  for (const feature of globalThis.topojson.feature(atlas, atlas.objects.states).features) {
    svg.append(svgNode("path", { d: base(feature), class: "state", "aria-hidden": "true" }));
  }
  // The selected truck's planned route, under the trucks so their dots stay clickable.
  const routeLayer = svgNode("g", { class: "route-layer", "aria-hidden": "true" });
  const layer = svgNode("g", {});
  svg.append(routeLayer, layer);
  const panel = el("div", { class: "panel", id: "truck-detail", "aria-live": "polite" }, el("p", { class: "muted" }, "Select a truck (click, or Tab and Enter) for its driver, trip, hours left and last event."));
  const caption = el("p", { class: "muted", id: "map-caption" });
  const search = el("input", { id: "m-q", type: "search", placeholder: "truck unit or driver name" });
  const updated = freshness();
  const state = { fleet: [], held: new Map(), drivers: new Map(), selected: null };
  ctx.section.replaceChildren(el("div", { class: "title-row" }, el("h2", {}, "Fleet map"), updated.node),
    el("form", { class: "filters", role: "search", "aria-label": "Find a truck", onsubmit: (e) => { e.preventDefault(); const hit = matches()[0]; if (hit) showTruck(hit); } },
      field("m-q", "Find a truck or driver", search), el("button", { type: "submit" }, "Show")),
    el("p", { class: "legend" }, el("span", {}, el("span", { class: "dot bg-moving" }), " moving"), el("span", {}, el("span", { class: "dot bg-stopped" }), " stopped"),
      el("span", {}, el("span", { class: "dot bg-other" }), " inactive / out of service"), el("span", {}, el("span", { class: "dot ring" }), " held at a stop")),
    el("div", { class: "split" }, el("div", {}, svg, caption), panel));

  const matches = () => {
    const q = search.value.trim().toLowerCase();
    if (!q) return [];
    return state.fleet.filter((t) => t.unit_number.toLowerCase().includes(q) || (state.drivers.get(t.vehicle_id) ?? "").toLowerCase().includes(q));
  };

  const showTruck = async (truck) => {
    state.selected = truck.vehicle_id;
    routeLayer.replaceChildren();
    const held = state.held.get(truck.vehicle_id);
    fill(panel, el("h3", {}, `Truck ${truck.unit_number}`),
      el("p", {}, `${stateOf(truck)}, ${Math.round(truck.speed_mph ?? 0)} mph, seen ${when(truck.recorded_at)}`),
      el("p", {}, truck.formatted_address ?? `${truck.latitude.toFixed(3)}, ${truck.longitude.toFixed(3)}`),
      held ? el("p", { class: "notice", id: "held" }, `Held at ${held.visit.facility ?? "a stop"} since ${when(held.visit.arrived_at)}: ${formatDuration(held.visit.dwell_minutes)} so far`
        + (held.visit.detention_minutes ? `, ${formatDuration(held.visit.detention_minutes)} detention` : " (within free time)")) : null);
    const page = ctx.can("trips:read") ? await explainInto(panel, api(`/trips?vehicle_id=${truck.vehicle_id}&status=in_transit&status=dispatched&limit=1`)) : null;
    const trip = page?.items?.[0];
    panel.append(el("dl", { class: "facts" }, el("dt", {}, "Driver"), el("dd", {}, trip?.driver ? el("a", { href: `#driver/${trip.driver.id}` }, trip.driver.full_name) : "no active trip"),
      el("dt", {}, "Trip"), el("dd", {}, trip ? [el("a", { href: `#board/${trip.id}` }, trip.load_number ?? trip.id), ` — ${words(trip.status)}, ETA ${when(trip.eta_next_stop)}`] : "—")));
    if (trip) {
      const full = await explainInto(panel, api(`/trips/${trip.id}`));
      if (full && state.selected === truck.vehicle_id) panel.append(drawRoute(routeLayer, projection, truck, full));
    }
    if (trip?.driver && ctx.can("hos:read")) {
      const clock = await explainInto(panel, api(`/hos/clocks/${trip.driver.id}`));
      if (clock) panel.append(el("p", {}, `HOS left: drive ${formatDuration(clock.drive_remaining_minutes)}, shift ${formatDuration(clock.shift_remaining_minutes)}, cycle ${formatDuration(clock.cycle_remaining_minutes)}`));
    }
    if (ctx.can("safety:read")) {
      const events = await explainInto(panel, api(`/safety_events?vehicle_id=${truck.vehicle_id}&limit=1`));
      const last = events?.items?.[0];
      panel.append(el("p", {}, last ? `Last event: ${last.behavior_labels.join(", ") || "safety event"} (${last.severity}) at ${when(last.occurred_at)}` : "Last event: none recorded"));
    }
  };

  const draw = () => {
    const found = new Set(matches().map((t) => t.vehicle_id));
    layer.replaceChildren();
    for (const truck of state.fleet) {
      const point = projection([truck.longitude, truck.latitude]);
      if (!point) continue;
      const kind = truck.status !== "active" ? "other" : (truck.speed_mph ?? 0) > 3 ? "moving" : "stopped";
      const held = state.held.get(truck.vehicle_id);
      const classes = ["truck", `st-${kind}`, held ? "held" : "", found.size && !found.has(truck.vehicle_id) ? "dim" : "", found.has(truck.vehicle_id) ? "found" : ""];
      const driver = state.drivers.get(truck.vehicle_id);
      const label = `Truck ${truck.unit_number}${driver ? `, ${driver}` : ""}, ${stateOf(truck)}${held ? `, held ${formatDuration(held.visit.dwell_minutes)}` : ""}`;
      const dot = svgNode("circle", { cx: point[0].toFixed(1), cy: point[1].toFixed(1), r: held ? "8" : "6", class: classes.filter(Boolean).join(" "), tabindex: "0", role: "button", "aria-label": label });
      dot.append(svgNode("title", {}, label));
      dot.addEventListener("click", () => showTruck(truck));
      dot.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); showTruck(truck); } });
      layer.append(dot, svgNode("text", { x: (point[0] + 9).toFixed(1), y: (point[1] + 4).toFixed(1), class: "label", "aria-hidden": "true" }, truck.unit_number));
    }
  };
  search.addEventListener("input", draw);

  async function load() {
    const trips = ctx.can("trips:read");
    const [fleet, active, visits] = await Promise.all([api("/locations/latest", { poll: true }),
      trips ? api("/trips?status=dispatched&status=in_transit&limit=200", { poll: true }) : { items: [] },
      trips ? api("/stop-visits?open_only=true&limit=200") : { items: [] }]);
    updated.stamp();
    const held = heldTrucks(visits.items, active.items);
    state.fleet = fleet.items;
    state.held = held;
    state.drivers = new Map(active.items.filter((t) => t.vehicle && t.driver).map((t) => [t.vehicle.id, t.driver.full_name]));
    draw();
    const placed = fleet.items.filter((t) => projection([t.longitude, t.latitude])).length;
    const unplaced = fleet.unplaced ?? [];
    const missing = [...fleet.items.filter((t) => !projection([t.longitude, t.latitude])).map((t) => t.unit_number), ...unplaced.map((t) => t.unit_number)];
    caption.textContent = `${placed} of ${fleet.total + unplaced.length} trucks placed on the map`
      + (missing.length ? ` — missing: ${missing.join(", ")}` : "")
      + `; ${held.size} held at a stop; positions as of ${when(fleet.items[0]?.recorded_at)}.`;
  }
  await load();
  // "#map/12": the truck with vehicle id 12 opened (the board's trip panel links here).
  const asked = state.fleet.find((t) => t.vehicle_id === Number(ctx.args[0]));
  if (asked) await showTruck(asked);
  ctx.poll(() => load().catch(() => {}), 15000);
  ctx.tick(() => updated.paint());
}

const placeName = (stop) => `${stop.name ?? `stop ${stop.sequence}`}${stop.city ? ` (${stop.city}, ${stop.state ?? ""})` : ""}`;

// The trip's planned route into `layer`: a line through its stops in order (the hub keeps
// PC*MILER's miles, not its road geometry, so legs are drawn straight) and a dashed one from
// the truck to the next stop; returns the sentence that says so, or that the route is unknown.
function drawRoute(layer, projection, truck, trip) {
  const stops = [...trip.stops].sort((a, b) => a.sequence - b.sequence);
  const placed = stops.map((stop) => ({ stop, point: stop.latitude === null || stop.longitude === null ? null : projection([stop.longitude, stop.latitude]) }))
    .filter((p) => p.point);
  if (placed.length < 2 && !(placed.length === 1 && trip.next_stop)) {
    return el("p", { id: "route-summary", class: "muted" }, `Planned route: unknown — ${stops.length ? "the stops have no map position" : "the trip has no stops"}.`);
  }
  const xy = ([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`;
  if (placed.length >= 2) layer.append(svgNode("path", { class: "route", d: `M${placed.map((p) => xy(p.point)).join("L")}` }));
  const next = placed.find((p) => p.stop.id === trip.next_stop?.id);
  const here = projection([truck.longitude, truck.latitude]);
  if (next && here) layer.append(svgNode("path", { class: "route-ahead", d: `M${xy(here)}L${xy(next.point)}` }));
  for (const { stop, point } of placed) {
    const reached = stop.arrived_at || stop.departed_at || ["arrived", "departed"].includes(stop.status);
    const dot = svgNode("circle", { cx: point[0].toFixed(1), cy: point[1].toFixed(1), r: "4", class: `route-stop${reached ? " reached" : ""}` });
    dot.append(svgNode("title", {}, `${stop.sequence}. ${placeName(stop)}`));
    layer.append(dot);
  }
  const unplaced = stops.length - placed.length;
  return el("p", { id: "route-summary" }, `Planned route (${trip.planned_miles ? `${Math.round(trip.planned_miles)} mi planned; ` : ""}straight between stops): `,
    placed.map((p) => placeName(p.stop)).join(" → "), unplaced ? ` (${unplaced} stop${unplaced === 1 ? "" : "s"} without a map position left out)` : "", ".");
}
