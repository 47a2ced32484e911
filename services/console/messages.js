// Messages to a driver: a short form (in-cab or SMS) that queues one through
// `POST /drivers/{id}/messages`; a refused message says why (opted out, outside the window…).

import { api, ApiError } from "/console/api.js";
import { el, field } from "/console/dom.js";

let forms = 0;

export function messageForm(driver, { tripId, alertId, text = "" } = {}, onSent = () => {}) {
  const n = (forms += 1);
  const channel = el("select", { id: `m-channel-${n}` }, el("option", { value: "samsara_message" }, "in-cab (Samsara)"), el("option", { value: "sms" }, "text message (SMS)"));
  const body = el("textarea", { id: `m-body-${n}`, rows: 2, maxlength: 1600, required: true }, text);
  const result = el("p", { class: "message-result", "aria-live": "polite" });
  return el("form", { class: "message-form", "aria-label": `Message ${driver.full_name}`, onsubmit: async (event) => {
    event.preventDefault();
    result.replaceChildren(`Sending to ${driver.full_name}…`);
    try {
      const json = { channel: channel.value, body: body.value };
      if (tripId) json.trip_id = tripId;
      if (alertId) json.alert_id = alertId;
      await api(`/drivers/${driver.id}/messages`, { method: "POST", json });
      result.replaceChildren(`Message to ${driver.full_name} queued; its delivery shows in the conversation.`);
      onSent();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      result.replaceChildren(el("span", { class: "notice", role: "alert" }, `Not sent — ${driver.full_name}: ${error.detail || error.code}.`));
    }
  } }, el("div", { class: "filters" }, field(`m-channel-${n}`, "Send as", channel), field(`m-body-${n}`, `Message to ${driver.full_name}`, body),
    el("button", { type: "submit" }, `Message ${driver.full_name}`)), result);
}
