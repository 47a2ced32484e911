// Names for the ids other lists carry (alerts, calls name a driver_id or vehicle_id): every
// driver and truck read once per session, a page of 200 at a time, then looked up locally.

import { api } from "/console/api.js";

let drivers = null;
let trucks = null;

async function all(path) {
  const rows = [];
  for (let offset = 0; ; offset += 200) {
    const page = await api(`${path}${path.includes("?") ? "&" : "?"}limit=200&offset=${offset}`);
    rows.push(...page.items);
    if (rows.length >= page.total || !page.items.length) return rows;
  }
}

// Map id → driver (DriverPublic); empty when the role may not read drivers.
export function driverDirectory(can) {
  if (!can("drivers:read")) return Promise.resolve(new Map());
  drivers ??= all("/drivers?sort=last_name").then((rows) => new Map(rows.map((d) => [d.id, d]))).catch((e) => { drivers = null; throw e; });
  return drivers;
}

export function truckDirectory(can) {
  if (!can("vehicles:read")) return Promise.resolve(new Map());
  trucks ??= all("/vehicles").then((rows) => new Map(rows.map((v) => [v.id, v]))).catch((e) => { trucks = null; throw e; });
  return trucks;
}

export function forgetDirectory() { drivers = trucks = null; }

export const driverName = (map, id) => (id === null || id === undefined ? "—" : map.get(id)?.full_name ?? `driver #${id}`);
export const truckName = (map, id) => (id === null || id === undefined ? "—" : map.get(id)?.unit_number ? `Truck ${map.get(id).unit_number}` : `truck #${id}`);
