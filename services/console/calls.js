// Calls: who was called (by name), why, how it ended; the transcript and what the driver said
// (insight); "Call driver" picks the driver by name. "#calls/12" opens call 12.

import { api, ApiError } from "/console/api.js";
import { driverDirectory, driverName } from "/console/directory.js";
import { add, el, explainInto, field, freshness, place, sortParam, table } from "/console/dom.js";
import { counted, formatDuration, when, words } from "/console/format.js";

export function insightList(insight) {
  if (!insight) return null;
  return el("ul", { class: "insights" },
    el("li", {}, `Reported delay: ${insight.reported_delay_minutes === null ? "none" : formatDuration(insight.reported_delay_minutes)}`),
    el("li", {}, `Reported ETA: ${insight.reported_eta ? when(insight.reported_eta) : insight.reported_eta_text ?? "—"}`),
    el("li", {}, `Location: ${insight.reported_location ?? "—"}`),
    el("li", {}, `Issues: ${insight.issues.join(", ") || "none"}`),
    el("li", {}, `Follow-up: ${insight.needs_follow_up ? insight.follow_up_reason ?? "yes" : "no"}`));
}

export function transcript(turns) {
  return el("div", { class: "transcript" }, turns.length
    ? turns.map((t) => el("p", {}, el("strong", {}, `${t.role ?? t.speaker ?? "?"}: `), t.text ?? t.message ?? ""))
    : el("p", { class: "muted" }, "No transcript yet."));
}

export async function callDetail(panel, id) {
  panel.replaceChildren(el("h3", {}, `Call ${id}`));
  const full = await explainInto(panel, api(`/calls/${id}`));
  if (!full) return;
  add(panel, el("p", {}, `${words(full.purpose)}: ${full.status}${full.outcome ? ` — ${words(full.outcome)}` : ""}, ${full.duration_seconds >= 60 ? formatDuration(full.duration_seconds / 60) : `${full.duration_seconds ?? 0} s`}`),
    full.summary ? el("p", {}, full.summary) : null);
  const insight = insightList(full.insight);
  if (insight) { insight.id = "insights"; panel.append(el("h4", {}, "What the driver said"), insight); }
  panel.append(el("h4", {}, "Transcript"), transcript(full.transcript));
}

export async function renderCalls(ctx) {
  const drivers = await driverDirectory(ctx.can);
  const list = el("div", { id: "calls" });
  const detail = el("div", { class: "panel", id: "call-detail", "aria-live": "polite" }, el("p", { class: "muted" }, "Select a call for its transcript and what the driver said."));
  const updated = freshness();
  ctx.section.replaceChildren(el("div", { class: "title-row" }, el("h2", {}, "Calls"), updated.node));
  if (ctx.can("calls:place")) {
    const people = [...drivers.values()].sort((a, b) => a.full_name.localeCompare(b.full_name));
    const driver = el("select", { id: "c-driver", required: true }, el("option", { value: "" }, "choose a driver"),
      people.map((d) => el("option", { value: d.id }, `${d.full_name}${d.terminal ? ` (${d.terminal})` : ""}${d.do_not_call ? " — do not call" : ""}`)));
    const purpose = el("select", { id: "c-purpose" }, ["late_load_check", "hos_check", "violation_coaching"].map((p) => el("option", { value: p }, words(p))));
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
        result.replaceChildren(`Call ${call.id} to ${driverName(drivers, call.driver_id)} placed (${call.status}).`);
        await load();
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        result.replaceChildren(el("span", { class: "notice", role: "alert" }, `Refused: ${error.detail || error.code} (${error.code}).`));
      }
    } }, field("c-driver", "Driver", driver), field("c-purpose", "Purpose", purpose), field("c-provider", "Provider", provider),
      override ? el("div", { class: "check" }, override, el("label", { for: "c-override" }, "Call even if driving or resting")) : null,
      el("button", { type: "submit" }, "Call driver"), result));
  }
  ctx.section.append(el("div", { class: "split" }, list, detail));
  const state = { table: {}, page: null };
  // The third field is the API's sort key: a click sorts every call, not the page at hand.
  const columns = [
    ["Call", (c) => c.id, "id"],
    ["Driver", (c) => (c.driver_id ? el("a", { href: `#driver/${c.driver_id}` }, driverName(drivers, c.driver_id)) : "—"), "driver"],
    ["Purpose", (c) => words(c.purpose), "purpose"],
    ["Status", (c) => el("span", { class: "call-status" }, c.status), "status"], ["Outcome", (c) => words(c.outcome), "outcome"],
    ["Dialed", (c) => when(c.dialed_at), "dialed_at"],
  ];

  async function load() {
    const sort = sortParam(columns, state.table);
    const page = await api(`/calls?limit=100${sort ? `&sort=${sort}` : ""}`);
    updated.stamp();
    const text = JSON.stringify([sort, page]);
    if (state.page === text) return;
    state.page = text;
    const order = sort ? "sort by any column" : "newest first; sort by any column";
    place(list, table(`${counted(page.total, "call")}, ${order}`, columns, page.items, { onSelect: (c) => callDetail(detail, c.id), onSort: load, state: state.table }));
    list.dataset.ready = "true";
  }
  await load();
  if (ctx.args[0]) callDetail(detail, Number(ctx.args[0]));
  ctx.poll(() => load().catch(() => {}), 5000);
  ctx.tick(() => updated.paint());
}
