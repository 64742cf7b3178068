// The dashboard's device list is fetched after the page has loaded: asking a USB printer its state
// takes longer than a page should.
"use strict";
document.addEventListener("DOMContentLoaded", async () => {
  const table = document.getElementById("devices");
  if (!table) return;
  const body = table.tBodies[0];
  try {
    const response = await fetch(table.dataset.url, { headers: { Accept: "application/json" } });
    const devices = await response.json();
    body.textContent = "";
    if (!response.ok) {
      body.insertRow().insertCell().textContent = (devices.error && devices.error.message) || table.dataset.failed;
      return;
    }
    for (const device of devices) {
      const row = body.insertRow();
      row.insertCell().textContent = device.name;
      row.insertCell().textContent = device.driver;
      const state = row.insertCell();
      const badge = document.createElement("span");
      badge.className = "badge " + (device.state.toLowerCase() === "ready" ? "ok" : device.state === "error" ? "bad" : "warn");
      badge.textContent = device.label; // the state in the page's language (READY -> siap)
      badge.dataset.state = device.state;
      badge.title = device.message || "";
      state.appendChild(badge);
    }
    if (!devices.length) body.insertRow().insertCell().textContent = "–";
  } catch (error) {
    body.textContent = "";
    console.warn("device status", error);
    body.insertRow().insertCell().textContent = table.dataset.failed;
  }
});
