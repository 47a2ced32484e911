// Reports: the fleet scorecard of a day (a row opens the driver's page) and the morning report
// read as a report — its title, summary, KPI table, chart and sections, for any day and terminal.
// A report not built yet is said so (and offered to be built), never a bare 404.

import { api, ApiError } from "/console/api.js";
import { el, field, options, place, sortParam, table } from "/console/dom.js";
import { formatDuration, when } from "/console/format.js";

const isoDay = (offsetDays = 0) => {
  const d = new Date(Date.now() + offsetDays * 86400000);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
};
// A report day is a driver's local day: the latest one is the day begun furthest east (UTC+14),
// the server's limit too (logic/reports/days.py), which can be the browser's tomorrow.
const latestDay = () => new Date(Date.now() + 14 * 3600000).toISOString().slice(0, 10);
const pct = (v) => (v === null || v === undefined ? "—" : `${Number(v).toFixed(0)} %`);
const num = (v, digits = 0) => (v === null || v === undefined ? "—" : Number(v).toFixed(digits));

// A day (and terminal) picker above a report body; `show(day, terminal, body, reload)` fills
// the body (`reload` shows it again, as the form's button does).
async function reportFrame(ctx, title, initialDay, show, generatePath, builtWhen) {
  const day = el("input", { id: "r-day", type: "date", value: initialDay, max: latestDay(), required: true });
  const facets = ctx.can("trips:read") ? await api("/trips/facets").catch(() => null) : null;
  const terminal = el("select", { id: "r-terminal" }, options(facets?.terminals ?? [], "", "whole fleet"));
  const body = el("div", { id: "report" });
  const load = async () => {
    body.replaceChildren(el("p", { class: "muted" }, "Loading…"));
    try {
      await show(day.value, terminal.value, body, load);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      const scope = terminal.value || "the fleet";
      body.replaceChildren(el("p", { class: "notice", role: "alert" }, error.status === 404
        ? `No ${title.toLowerCase()} for ${scope} on ${day.value} yet: ${builtWhen}.${ctx.can("reports:generate") ? "" : " Ask someone with reports:generate to build it."}`
        : error.explain()));
      if (error.status === 404 && ctx.can("reports:generate")) body.append(el("button", {
        type: "button", onclick: async (e) => {
          e.currentTarget.disabled = true;
          const morning = generatePath.includes("morning");
          const scoped = morning && terminal.value ? `&terminal=${encodeURIComponent(terminal.value)}` : "";
          try {
            await api(`${generatePath}?date=${day.value}${morning ? "&deliver=false" : ""}${scoped}`, { method: "POST" });
          } catch (failure) {
            if (!(failure instanceof ApiError)) throw failure;
            body.append(el("p", { class: "notice", role: "alert" }, failure.explain()));
            return;
          }
          await load();
        },
      }, `Build it for ${day.value}`));
    }
  };
  ctx.section.replaceChildren(el("h2", {}, title),
    el("form", { class: "filters", "aria-label": `${title} day`, onsubmit: (e) => { e.preventDefault(); load(); } },
      field("r-day", "Day (local)", day), field("r-terminal", "Terminal", terminal), el("button", { type: "submit" }, "Show")), body);
  return load();
}

// The fleet scorecard's columns; the third field is the API's sort key (every driver of the day
// is sorted, not the rows at hand).
const SCORECARD_COLUMNS = [
  ["Driver", (r) => r.driver_name, "driver"], ["Terminal", (r) => r.terminal ?? "—", "terminal"],
  ["Safety score", (r) => (r.safety_score === null ? el("span", { class: "muted", title: r.score_withheld_reason ?? "" }, "not scored") : el("strong", {}, r.safety_score.toFixed(0))), "safety_score"],
  ["7-day trend", (r) => (r.trend_7d === null ? "—" : `${r.trend_7d > 0 ? "+" : ""}${r.trend_7d.toFixed(1)}`), "trend_7d"],
  ["Miles", (r) => num(r.miles), "miles"], ["On time", (r) => pct(r.on_time_pct), "on_time_pct"],
  ["HOS violations", (r) => r.hos_violations, "hos_violations"], ["Safety events", (r) => r.safety_events, "safety_events"], ["Calls", (r) => r.calls, "calls"],
];

export function renderScorecards(ctx) {
  // Lowest safety score first, as the API's default; the list keeps its node across reloads
  // so a sorted header keeps the focus.
  const state = { sort: [2, 1] };
  const list = el("div", { id: "scorecards" });
  return reportFrame(ctx, "Driver scorecards", isoDay(-1), async (day, terminal, body, reload) => {
    const scope = terminal ? `&terminal=${encodeURIComponent(terminal)}` : "";
    const page = await api(`/reports/drivers?date=${day}&limit=200&sort=${sortParam(SCORECARD_COLUMNS, state)}${scope}`);
    // An empty day is a day not built yet (every active driver gets a row when it is built).
    if (!page.total) throw new ApiError(404, "not_found", "no scorecard rows", "/reports/drivers");
    const order = sortParam(SCORECARD_COLUMNS, state) === "safety_score" ? "lowest safety score first; " : "";
    place(list, table(`${page.total} drivers on ${page.report_date}, ${order}open a row for the driver's page`, SCORECARD_COLUMNS,
      page.items, { onSelect: (r) => { location.hash = `driver/${r.driver_id}`; }, onSort: reload, state, keyOf: (r) => r.driver_id }));
    body.replaceChildren(list, el("p", { class: "muted" }, `Score: ${page.score_formula}`),
      el("p", {}, el("a", { href: `/reports/drivers/export?date=${day}&format=csv${scope}`, id: "scorecard-export", "data-download": `driver-scorecard-${day}.csv` }, "Download this day as CSV")));
    wireDownloads(body);
  }, "/reports/drivers/generate", "scorecards are built for each day after its data is in");
}

// Export links need the bearer token: fetch the file, then hand the browser a blob to save.
export function wireDownloads(root) {
  for (const link of root.querySelectorAll("a[data-download]")) {
    link.addEventListener("click", async (event) => {
      event.preventDefault();
      const response = await api(link.getAttribute("href"), { raw: true });
      const url = URL.createObjectURL(await response.blob());
      const save = el("a", { href: url, download: link.dataset.download });
      document.body.append(save);
      save.click();
      save.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    });
  }
}

function kpiTable(body) {
  const k = body.kpis;
  const rows = [
    ["Drivers", k.drivers], ["Miles", num(k.miles)], ["On-time stops", pct(k.on_time_pct)], ["Loads on time / late", `${body.loads.on_time} / ${body.loads.late}`],
    ["HOS violations", k.hos_violations], ["Safety events", k.safety_events], ["Violations per 1,000 mi", num(k.violations_per_1000_miles, 1)],
    ["Calls", body.calls.total], ["Follow-ups pending", body.follow_ups.length],
  ];
  return el("table", { class: "kpi-table" }, el("caption", {}, `Yesterday (${body.yesterday}) in figures`),
    el("tbody", {}, rows.map(([k2, v]) => el("tr", {}, el("th", { scope: "row" }, k2), el("td", {}, String(v ?? "—"))))));
}

export function renderMorning(ctx) {
  return reportFrame(ctx, "Morning report", isoDay(0), async (day, terminal, body) => {
    const scope = terminal ? `&terminal=${encodeURIComponent(terminal)}` : "";
    const report = await api(`/reports/morning?date=${day}${scope}`);
    const chart = await api(`/reports/morning/chart.png?date=${day}${scope}`, { raw: true }).then((r) => r.blob()).catch(() => null);
    const b = report.body;
    const late = b.late_loads.length ? table("Late loads yesterday", [
      ["Load", (x) => x.load_number ?? x.trip_id], ["Customer", (x) => x.customer ?? "—"], ["Driver", (x) => (x.driver_id ? el("a", { href: `#driver/${x.driver_id}` }, x.driver ?? "driver") : "—")],
      ["Late by", (x) => formatDuration(x.late_minutes)],
    ], b.late_loads) : null;
    const customers = b.loads.by_customer.length ? table("Loads by customer", [
      ["Customer", (c) => c.customer], ["On time", (c) => c.on_time], ["Late", (c) => c.late]], b.loads.by_customer) : null;
    body.replaceChildren(el("article", { class: "report", "aria-labelledby": "report-title" },
      el("h3", { id: "report-title" }, report.title),
      el("p", { class: "muted" }, `${report.timezone}; generated ${when(report.generated_at)}${report.deliveries.length ? `; sent ${report.deliveries.filter((d) => d.status === "sent").length} of ${report.deliveries.length} deliveries` : ""}`),
      el("ul", { class: "summary" }, report.summary.map((line) => el("li", {}, line))),
      el("div", { class: "report-grid" }, kpiTable(b),
        chart ? el("img", { src: URL.createObjectURL(chart), alt: "Chart: loads by customer (on time and late), and drivers by safety score band", class: "chart" }) : el("p", { class: "muted" }, "The chart could not be drawn.")),
      late, customers,
      report.sections.filter((s) => s.lines.length && !["Late loads", "Loads by customer"].includes(s.heading)).map((s) =>
        el("section", { class: "report-section" }, el("h4", {}, s.heading), el("ul", {}, s.lines.map((line) => el("li", {}, line))))),
      el("p", { class: "muted" }, `Safety score: ${b.score_formula}`)));
  }, "/reports/morning/generate", "a morning report is built at its terminal's send time");
}
