// The console's views by URL hash: title, the permission each needs, and its module, loaded
// when first shown (the board with the page; the others while the user reads it). NAV lists
// the ones the menu offers (the driver page opens from a name anywhere else).

export const VIEWS = {
  board: { title: "Trips board", needs: "trips:read", load: () => import("/console/board.js").then((m) => m.renderBoard) },
  map: { title: "Fleet map", needs: "locations:read", load: () => import("/console/map.js").then((m) => m.renderMap) },
  alerts: { title: "Alerts", needs: "alerts:read", load: () => import("/console/alerts.js").then((m) => m.renderAlerts) },
  calls: { title: "Calls", needs: "calls:read", load: () => import("/console/calls.js").then((m) => m.renderCalls) },
  campaigns: { title: "Campaigns", needs: "campaigns:read", load: () => import("/console/campaigns.js").then((m) => m.renderCampaigns) },
  scorecards: { title: "Scorecards", needs: "reports:read", load: () => import("/console/reports.js").then((m) => m.renderScorecards) },
  morning: { title: "Morning report", needs: "reports:read", load: () => import("/console/reports.js").then((m) => m.renderMorning) },
  driver: { title: "Driver", needs: "drivers:read", load: () => import("/console/driver.js").then((m) => m.renderDriver) },
};
export const NAV = ["board", "map", "alerts", "calls", "campaigns", "scorecards", "morning"];
