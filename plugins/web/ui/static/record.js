// Recording pages: the live NIK check, the signature pad, the live preview and "capturing..." notes.
// Every page works without this file: the server checks everything again when a form is sent.
"use strict";

function recText(tag, text, cls) {
  const el = document.createElement(tag);
  el.textContent = text;
  if (cls) el.className = cls;
  return el;
}

// -- The biodata form: ask the server about the NIK as the operator types --------------------------
function recNikCheck(form) {
  const url = form.dataset.checkUrl;
  const box = document.getElementById("nik-result");
  const field = (name) => form.elements[name];
  const checked = ["nik", "jenis_kelamin", "tanggal_lahir"];
  let timer = null;
  let asked = 0;

  function showErrors(errors) {
    for (const name of checked) {
      const out = document.getElementById("err-" + name);
      const input = field(name);
      const messages = errors[name] || [];
      if (out) out.textContent = messages.join(" ");
      if (input) input.setAttribute("aria-invalid", messages.length ? "true" : "false");
    }
  }

  function fillEmpty(name, value) {
    const input = field(name);
    if (input && value && !input.value) input.value = value;
  }

  async function check() {
    const nik = field("nik").value.replace(/[\s.-]/g, "");
    if (nik.length < 16) {
      box.hidden = true;
      return;
    }
    const query = new URLSearchParams({
      nik: nik,
      jenis_kelamin: field("jenis_kelamin").value,
      tanggal_lahir: field("tanggal_lahir").value,
      status_perkawinan: field("status_perkawinan").value,
    });
    const mine = ++asked;
    let data;
    try {
      const response = await fetch(url + "?" + query.toString(), { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      data = await response.json();
    } catch (err) {
      return; // the server checks again on submit
    }
    if (mine !== asked) return; // an older answer arriving late
    showErrors(data.errors || {});
    box.replaceChildren();
    box.hidden = false;
    box.className = "nik-result " + (data.ok ? "ok" : "bad");
    box.append(recText("strong", data.ok ? box.dataset.okText || "NIK OK" : box.dataset.badText || "NIK"));
    if (data.valid) {
      const fill = data.fill || {};
      const facts = document.createElement("dl");
      for (const [label, value] of [[form.dataset.provLabel, fill.provinsi], [form.dataset.regLabel, fill.kabupaten_kota],
        [form.dataset.distLabel, fill.kecamatan], [form.dataset.sexLabel, fill.jenis_kelamin],
        [form.dataset.birthLabel, fill.tanggal_lahir], [form.dataset.ageLabel, data.age]]) {
        if (value === undefined || value === null || value === "") continue;
        facts.append(recText("dt", label || ""), recText("dd", String(value)));
      }
      box.append(facts);
      for (const name of ["provinsi", "kabupaten_kota", "kecamatan", "jenis_kelamin", "tanggal_lahir"]) {
        fillEmpty(name, fill[name]);
      }
      const list = document.getElementById("kelurahan-list");
      if (list) {
        list.replaceChildren(...(data.kelurahan || []).map((name) => {
          const option = document.createElement("option");
          option.value = name;
          return option;
        }));
      }
    }
    for (const messages of Object.values(data.warnings || {})) {
      for (const message of messages) box.append(recText("p", message, "muted"));
    }
    for (const messages of Object.values(data.errors || {})) {
      for (const message of messages) box.append(recText("p", message, "field-error"));
    }
    if (data.resume) {
      const link = recText("a", form.dataset.resumeText || "→");
      link.href = data.resume;
      box.append(link);
    }
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(check, 300);
  }
  for (const name of ["nik", "jenis_kelamin", "tanggal_lahir", "status_perkawinan"]) {
    const input = field(name);
    if (input) {
      input.addEventListener("input", later);
      input.addEventListener("change", later);
    }
  }
  if (field("nik").value) later();
}

// -- The signature pad: pointer strokes on a canvas, sent as a PNG data URL -------------------------
function recSignaturePad(form) {
  const canvas = form.querySelector("canvas.sig-pad");
  const hidden = form.elements["drawing"];
  const clear = form.querySelector("[data-sig-clear]");
  if (!canvas || !hidden) return;
  canvas.hidden = false;
  clear.hidden = false;
  // The server tells an empty pad from a missing file by this (the pad shows only with scripts).
  if (form.elements["pad"]) form.elements["pad"].value = "1";
  const help = form.querySelector("[data-sig-help]");
  if (help) help.hidden = false;
  const ctx = canvas.getContext("2d");
  ctx.lineWidth = 3;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.strokeStyle = "#000";
  let drawing = false;
  let drawn = false;

  function point(event) {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
  }
  canvas.addEventListener("pointerdown", (event) => {
    drawing = true;
    canvas.setPointerCapture(event.pointerId);
    const [x, y] = point(event);
    ctx.beginPath();
    ctx.moveTo(x, y);
    ctx.lineTo(x + 0.1, y + 0.1);
    ctx.stroke();
    drawn = true;
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    const [x, y] = point(event);
    ctx.lineTo(x, y);
    ctx.stroke();
  });
  for (const name of ["pointerup", "pointercancel", "pointerleave"]) {
    canvas.addEventListener(name, () => { drawing = false; });
  }
  clear.addEventListener("click", () => {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    drawn = false;
    hidden.value = "";
  });
  form.addEventListener("submit", () => {
    hidden.value = drawn ? canvas.toDataURL("image/png") : "";
  });
}

// -- Live preview: start the device's picture stream on request -----------------------------------
function recPreview(button) {
  const img = button.parentElement.querySelector("img[data-preview]");
  const idle = button.parentElement.querySelector("[data-preview-idle]");
  if (!img) return;
  // A stream the device cannot give (busy, gone, no frames) would leave a broken image: say so instead.
  img.addEventListener("error", () => {
    img.hidden = true;
    img.removeAttribute("src");
    if (idle) {
      idle.textContent = idle.dataset.failed;
      idle.hidden = false;
    }
  });
  button.addEventListener("click", () => {
    // A new URL each time: the stream ends after a number of frames and is asked for again.
    img.src = img.dataset.preview + "?t=" + Date.now();
    img.hidden = false;
    if (idle) idle.hidden = true;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const biodata = document.getElementById("biodata-form");
  if (biodata) recNikCheck(biodata);
  for (const form of document.querySelectorAll("form[data-signature]")) recSignaturePad(form);
  for (const button of document.querySelectorAll("[data-preview-start]")) recPreview(button);
  // A capture waits for the resident's finger or face: say so while the page waits for the device.
  for (const form of document.querySelectorAll("form[data-capturing]")) {
    form.addEventListener("submit", () => {
      form.classList.add("busy");
      form.append(recText("span", " " + form.dataset.capturing, "capturing"));
    });
  }
});
