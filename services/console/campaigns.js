// Campaigns: create one over an audience (previewed first: how many drivers, the first of them,
// who is do-not-call), start / pause / resume / cancel it, and watch each driver's progress:
// state, last outcome, why a target waits, its next attempt.

import { api, ApiError } from "/console/api.js";
import { driverDirectory } from "/console/directory.js";
import { el, explainInto, field, fill, freshness, place, sortParam, table } from "/console/dom.js";
import { ago, counted, when, words } from "/console/format.js";

const WAITING = {
  campaign_draft: "campaign not started", campaign_paused: "campaign paused", before_schedule: "before the schedule",
  retry_later: "retry delay", do_not_call: "do not call", outside_window: "outside the calling window",
  active_call: "on another call", daily_max: "daily call limit reached", concurrency: "campaign at its concurrency", due: "due at the next tick",
};
// Which lifecycle actions each status offers (the API refuses the others with a 409).
const ACTIONS = { draft: ["start", "cancel"], scheduled: ["pause", "cancel"], running: ["pause", "cancel"], paused: ["resume", "cancel"] };
const DONE = { start: "started", pause: "paused", resume: "resumed", cancel: "canceled" };
const AUDIENCES = { hos_violations: "Drivers with HOS violations", late_trips: "Drivers of late trips", safety_events: "Drivers with safety events", drivers: "Chosen drivers" };

function audienceForm(drivers) {
  const kind = el("select", { id: "k-kind" }, Object.entries(AUDIENCES).map(([v, label]) => el("option", { value: v }, label)));
  const days = el("input", { id: "k-days", type: "number", min: 1, max: 90, value: 7 });
  const minutes = el("input", { id: "k-minutes", type: "number", min: 0, value: 30 });
  const types = el("input", { id: "k-types", value: "speeding, braking" });
  const since = el("input", { id: "k-since-days", type: "number", min: 1, max: 90, value: 7 });
  const people = el("select", { id: "k-drivers", multiple: true, size: 5 },
    [...drivers.values()].sort((a, b) => a.full_name.localeCompare(b.full_name)).map((d) => el("option", { value: d.id }, d.full_name)));
  const parts = {
    hos_violations: field("k-days", "Violations in the last (days)", days),
    late_trips: field("k-minutes", "Late by more than (min)", minutes),
    safety_events: el("div", { class: "stack" }, field("k-types", "Behaviour labels (comma-separated)", types), field("k-since-days", "In the last (days)", since)),
    drivers: field("k-drivers", "Drivers (Ctrl+click for several)", people),
  };
  const slot = el("div", { class: "audience-params" });
  const show = () => slot.replaceChildren(parts[kind.value]);
  kind.addEventListener("change", show);
  show();
  const value = () => {
    return {
      hos_violations: { kind: "hos_violations", days: Number(days.value) },
      late_trips: { kind: "late_trips", minutes: Number(minutes.value) },
      safety_events: { kind: "safety_events", types: types.value.split(",").map((t) => t.trim()).filter(Boolean),
        since: new Date(Date.now() - Number(since.value) * 86400000).toISOString() },
      drivers: { kind: "drivers", driver_ids: [...people.selectedOptions].map((o) => Number(o.value)) },
    }[kind.value];
  };
  return { nodes: [field("k-kind", "Audience", kind), slot], value, controls: [kind, days, minutes, types, since, people] };
}

function createForm(ctx, drivers, onCreated) {
  const name = el("input", { id: "k-name", required: true, maxlength: 200, value: `HOS follow-up ${new Date().toLocaleDateString()}` });
  const purpose = el("select", { id: "k-purpose" }, ["hos_check", "violation_coaching", "late_load_check"].map((p) => el("option", { value: p }, words(p))));
  const start = el("input", { id: "k-window-start", type: "time", value: "08:00" });
  const end = el("input", { id: "k-window-end", type: "time", value: "21:00" });
  const audience = audienceForm(drivers);
  const preview = el("div", { id: "k-preview", "aria-live": "polite" }, el("p", { class: "muted" }, "The audience preview shows here."));
  const result = el("p", { "aria-live": "polite" });
  let asked = 0; // only the latest preview is shown: an earlier, slower answer must not overwrite it
  const showPreview = async () => {
    const mine = ++asked;
    preview.replaceChildren(el("p", { class: "muted" }, "Counting…"));
    try {
      const found = await api("/campaigns/preview", { method: "POST", json: { audience: audience.value(), limit: 10 } });
      if (mine !== asked) return;
      const flagged = found.drivers.filter((d) => d.do_not_call);
      preview.replaceChildren(el("p", {}, el("strong", { id: "k-count" }, `${found.count} driver${found.count === 1 ? "" : "s"}`),
        found.count > found.drivers.length ? `; the first ${found.drivers.length}:` : ":",
        flagged.length ? el("span", { class: "notice" }, ` ${flagged.length} flagged do-not-call (they will be skipped)`) : ""),
      el("ul", { class: "plain" }, found.drivers.map((d) => el("li", {}, d.name, d.do_not_call ? el("strong", { class: "risk-late" }, " — do not call") : "", d.timezone ? el("span", { class: "muted" }, ` (${d.timezone})`) : ""))));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (mine === asked) preview.replaceChildren(el("p", { class: "notice", role: "alert" }, error.explain()));
    }
  };
  for (const control of audience.controls) control.addEventListener("change", showPreview);
  const form = el("form", { id: "campaign-form", "aria-label": "New campaign", onsubmit: async (e) => {
    e.preventDefault();
    try {
      const created = await api("/campaigns", { method: "POST", json: {
        name: name.value, purpose: purpose.value, audience: audience.value(), window_start: start.value, window_end: end.value } });
      result.replaceChildren(`Campaign “${created.name}” created as a draft with ${created.target_count} targets. Start it from its panel.`);
      onCreated(created);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      result.replaceChildren(el("span", { class: "notice", role: "alert" }, error.explain()));
    }
  } }, el("h3", {}, "New campaign"),
  el("div", { class: "filters" }, field("k-name", "Name", name), field("k-purpose", "Purpose", purpose), ...audience.nodes,
    field("k-window-start", "Calls from (driver's time)", start), field("k-window-end", "until", end)),
  el("div", { class: "actions" }, el("button", { type: "button", class: "secondary", onclick: showPreview }, "Preview audience"), el("button", { type: "submit" }, "Create campaign")),
  preview, result);
  showPreview();
  return form;
}

// Why one driver's target is where it is: the campaign's own state first (a draft or paused
// campaign holds every pending target), then the target's refusal or its next attempt.
function targetReason(t, campaign) {
  if (t.state === "pending") {
    if (campaign.status === "draft" || campaign.status === "paused") return WAITING[`campaign_${campaign.status}`];
    return t.defer_reason ? words(t.defer_reason) : Date.parse(t.next_attempt_at) > Date.now() ? `retry at ${when(t.next_attempt_at)}` : WAITING.due;
  }
  return words(t.skip_reason ?? t.defer_reason);
}

// A campaign's targets, driver by driver; the third field is the API's sort key (every
// target is sorted, not the rows at hand). "reason" is the stored skip or wait reason.
const TARGET_COLUMNS = [
  ["Driver", (t) => el("a", { href: `#driver/${t.driver_id}` }, t.driver_name ?? `driver #${t.driver_id}`), "driver"],
  ["State", (t) => words(t.state), "state"], ["Attempts", (t) => t.attempts, "attempts"],
  ["Last outcome", (t) => words(t.last_outcome), "last_outcome"], ["Why / waiting", (t, campaign) => targetReason(t, campaign), "reason"],
  ["Next attempt", (t) => (t.state === "pending" ? when(t.next_attempt_at) : "—"), "next_attempt_at"],
  ["Finished", (t) => (t.finished_at ? ago(t.finished_at) : "—"), "finished_at"],
];

export async function renderCampaigns(ctx) {
  const drivers = await driverDirectory(ctx.can);
  const list = el("div", { id: "campaigns" });
  const panel = el("div", { class: "panel", id: "campaign-detail", tabindex: -1 }, el("p", { class: "muted" }, "Select a campaign for its progress, driver by driver."));
  const updated = freshness();
  const state = { table: {}, page: null, open: null, targets: {} };
  const writable = ctx.can("campaigns:write");

  const showCampaign = async (c) => {
    state.open = c.id;
    const detail = await explainInto(panel, api(`/campaigns/${c.id}`));
    if (!detail || state.open !== c.id) return;
    const sort = sortParam(TARGET_COLUMNS, state.targets);
    const targets = await explainInto(panel, api(`/campaigns/${c.id}/targets?limit=200${sort ? `&sort=${sort}` : ""}`));
    if (state.open !== c.id) return;
    const p = detail.progress;
    const act = async (action) => {
      const done = await explainInto(panel, api(`/campaigns/${c.id}/${action}`, { method: "POST" }));
      // What was done, not the status: the status line stays true while the campaign moves on.
      if (done) { ctx.say(`Campaign “${done.name}” ${DONE[action]}.`); await load(); showCampaign(done); }
    };
    const waiting = Object.entries(p.waiting);
    // A refresh keeps the user's place: the same button focused again, else the panel.
    const focused = panel.contains(document.activeElement) ? document.activeElement.textContent : null;
    fill(panel, el("h3", {}, detail.name, el("span", { class: `status status-${detail.status}` }, ` ${detail.status}`)),
      el("p", {}, el("progress", { max: detail.target_count || 1, value: p.finished, "aria-label": "targets finished" }),
        ` ${p.finished} of ${detail.target_count} drivers finished (${p.percent_finished} %), ${p.in_flight} in a call now, ${detail.calls_placed} calls placed.`),
      writable && ACTIONS[detail.status] ? el("div", { class: "actions" }, ACTIONS[detail.status].map((a) =>
        el("button", { type: "button", class: a === "cancel" ? "secondary" : null, onclick: () => act(a) }, a[0].toUpperCase() + a.slice(1)))) : null,
      detail.status_reason ? el("p", { class: "notice" }, detail.status_reason) : null,
      waiting.length ? el("p", { id: "campaign-waiting" }, "Waiting: ", waiting.map(([why, n]) => `${n} ${WAITING[why] ?? words(why)}`).join(", ")) : null,
      targets ? table(counted(targets.total, "driver"), TARGET_COLUMNS.map(([name, cell, key]) => [name, (t) => cell(t, detail), key]),
        targets.items, { state: state.targets, id: "campaign-targets", onSort: () => showCampaign({ id: c.id }) }) : null);
    if (focused !== null) ([...panel.querySelectorAll("button")].find((b) => b.textContent === focused) ?? panel).focus();
  };

  // The third field is the API's sort key: a click sorts every campaign, not this page.
  const columns = [
    ["Name", (c) => c.name, "name"], ["Purpose", (c) => words(c.purpose), "purpose"], ["Status", (c) => c.status, "status"],
    // Finished targets, never calls: retries would over-fill the bar ("6 calls / 5 targets").
    ["Progress", (c) => el("span", {}, el("progress", { max: c.target_count || 1, value: Math.min(c.targets_finished, c.target_count), "aria-label": `${c.name} progress` }), ` ${c.targets_finished} of ${c.target_count}`), "progress"],
    ["Window", (c) => `${c.window_start}–${c.window_end}`], ["Started", (c) => when(c.started_at), "started_at"],
  ];
  async function load() {
    const sort = sortParam(columns, state.table);
    const page = await api(`/campaigns?limit=100${sort ? `&sort=${sort}` : ""}`);
    updated.stamp();
    const text = JSON.stringify([sort, page]);
    if (text === state.page) return false;
    state.page = text;
    place(list, table(`${counted(page.total, "campaign")}${sort ? "" : ", newest first"}`, columns, page.items, { onSelect: showCampaign, onSort: load, state: state.table }));
    list.dataset.ready = "true";
    return true;
  }
  fill(ctx.section, el("div", { class: "title-row" }, el("h2", {}, "Campaigns"), updated.node),
    // The panel under the list, not beside it: both tables are wide (the targets' has seven
    // columns), and side by side each scrolled sideways at 1400 px.
    el("div", { class: "split stacked" }, list, panel),
    writable ? createForm(ctx, drivers, async (created) => { state.table.key = String(created.id); await load(); showCampaign(created); }) : null);
  await load();
  ctx.poll(async () => {
    try {
      await load();
      // The open campaign is watched while it can still change.
      if (state.open) await showCampaign({ id: state.open });
    } catch { /* the next poll tries again */ }
  }, 5000);
  ctx.tick(() => updated.paint());
}
