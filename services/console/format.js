// How the console writes durations: the same words as the hub's Slack messages and morning
// report (helpers/time_utils.py format_duration): 85 → "1 h 25 min", 45 → "45 min",
// 120 → "2 h", 1590 → "1 d 2 h". tests/services/test_console_format.py runs both on one table.

export function formatDuration(minutes) {
  if (minutes === null || minutes === undefined || Number.isNaN(Number(minutes))) return "—";
  const value = Number(minutes);
  // Python's round() rounds halves to even; match it so both sides print the same text.
  const abs = Math.abs(value);
  const floor = Math.floor(abs);
  const diff = abs - floor;
  const total = diff > 0.5 || (diff === 0.5 && floor % 2 === 1) ? floor + 1 : floor;
  const sign = value < 0 && total ? "-" : "";
  const days = Math.floor(total / 1440);
  const rest = total % 1440;
  const hours = Math.floor(rest / 60);
  const mins = rest % 60;
  let parts;
  if (days) parts = [`${days} d`, hours ? `${hours} h` : ""];
  else if (hours) parts = [`${hours} h`, mins ? `${mins} min` : ""];
  else parts = [`${mins} min`];
  return sign + parts.filter((p) => p).join(" ");
}

const timeFormat = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short",
});

// A UTC time from the API in the browser's zone ("Mar 14, 08:30 AM CDT"); "—" when unknown.
export const when = (iso) => (iso ? timeFormat.format(new Date(iso)) : "—");

// How long ago an API time was, in the same words: "1 h 25 min ago" ("just now" under a minute).
export function ago(iso, now = Date.now()) {
  if (!iso) return "never";
  const minutes = (now - new Date(iso)) / 60000;
  return minutes < 1 ? "just now" : `${formatDuration(minutes)} ago`;
}

export const words = (code) => (code ? String(code).replaceAll("_", " ") : "—");

// "1 call", "2 calls": a count with its noun (regular plurals only).
export const counted = (n, noun) => `${n} ${noun}${n === 1 ? "" : "s"}`;

// The rests an HOS plan inserts, by the projection's `kind`.
export const REST_NAMES = { break: "30 min break", reset: "10 h reset", restart: "34 h restart" };
