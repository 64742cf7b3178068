// A print run's page follows the run by polling its JSON status; without scripts the page reloads
// itself (a <noscript> refresh) and shows the same. On the queue, "print all" counts what it would print.
"use strict";

// The queue's "print all" button: the jobs due today, or with "any day" ticked every queued job.
document.addEventListener("DOMContentLoaded", () => {
  const button = document.getElementById("print-all");
  const anyDay = document.getElementById("any-day");
  if (!button || !anyDay) return;
  function update() {
    const which = anyDay.checked ? "any" : "today";
    button.textContent = button.dataset[which];
    button.disabled = Number(button.dataset[which + "Count"]) === 0;
  }
  anyDay.addEventListener("change", update);
  update(); // the browser may restore a ticked box when the page is shown again
});
document.addEventListener("DOMContentLoaded", () => {
  const run = document.getElementById("run");
  if (!run || run.dataset.done === "true") return;

  function paragraph(level, text, role) {
    const p = document.createElement("p");
    p.className = "flash " + level;
    if (role) p.setAttribute("role", role);
    p.textContent = text;
    return p;
  }

  function render(status) {
    document.getElementById("run-summary").textContent = status.summary;
    const bar = document.getElementById("run-overall");
    bar.value = Math.round(status.overall * 100);
    bar.textContent = bar.value + "%";
    document.getElementById("run-step").textContent = status.step || "";
    const failed = document.getElementById("run-failed");
    failed.textContent = "";
    if (status.failed) failed.appendChild(paragraph("error", status.failed, "alert"));
    const notes = document.getElementById("run-notes");
    notes.textContent = "";
    for (const note of status.notes) notes.appendChild(paragraph(note.level, note.text));
    const body = document.getElementById("run-jobs").tBodies[0];
    body.textContent = "";
    for (const job of status.jobs) {
      const row = body.insertRow();
      row.dataset.job = job.id;
      const who = row.insertCell();
      const name = document.createElement("strong");
      name.textContent = job.nama;
      const nik = document.createElement("span");
      nik.className = "small muted";
      nik.textContent = "NIK " + job.nik;
      who.append(name, document.createElement("br"), nik);
      const state = row.insertCell();
      const badge = document.createElement("span");
      badge.className = "badge " + job.badge;
      badge.dataset.state = job.state;
      badge.textContent = job.label;
      state.appendChild(badge);
      if (job.reason) {
        const reason = document.createElement("span");
        reason.className = "small";
        reason.textContent = job.reason;
        state.append(document.createElement("br"), reason);
      }
      const blank = row.insertCell();
      blank.className = "mono";
      blank.textContent = job.blank || "–";
    }
    const steps = document.getElementById("run-steps");
    steps.textContent = "";
    for (const step of status.steps) {
      const item = document.createElement("li");
      item.textContent = step;
      steps.appendChild(item);
    }
    steps.scrollTop = steps.scrollHeight;
  }

  async function poll() {
    try {
      const response = await fetch(run.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (response.status === 401) {
        window.location.reload(); // the session ended: the page itself leads to the login form
        return;
      }
      if (!response.ok) throw new Error(String(response.status));
      const status = await response.json();
      render(status);
      if (status.done) {
        // The counter check and the final notes are laid out by the server: load the finished page.
        window.location.reload();
        return;
      }
    } catch (error) {
      // Said in the page's language; the technical error goes to the browser's console.
      console.warn("print run status", error);
      document.getElementById("run-step").textContent = run.dataset.lost || String(error);
    }
    setTimeout(poll, 700);
  }
  setTimeout(poll, 300);
});
