// ektp operator UI: small progressive enhancements; every page works without them.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // A select marked data-autosubmit submits its form when changed (the language switch).
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
  // A form marked data-confirm asks before it is sent (spoiling a card, deciding an adjudication).
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
  // A submit button is disabled once its form is really sent, so a double click does not send twice.
  // The check waits until every submit listener has run (a timeout fires after the dispatch): a form
  // whose confirmation was cancelled, or that another script stopped, is not sent and keeps its
  // buttons usable.
  for (const form of document.querySelectorAll("form")) {
    form.addEventListener("submit", (event) => {
      setTimeout(() => {
        if (event.defaultPrevented) return;
        // form.elements also holds buttons outside the form that name it (form="...").
        for (const button of form.elements) {
          if (button.type === "submit") button.disabled = true;
        }
      }, 0);
    });
  }
  ektpKeepForms();
});

// -- Forms marked data-keep: what was typed survives a session that ended meanwhile ---------------
// When such a form is sent, its fields go to this tab's sessionStorage (never to the server before a
// login). If the session had ended (a logout in another tab, the idle limit) the server refuses the
// post and asks to log in again, then shows the form's page: the still empty form gets the values
// back, for the same account only. Any other page forgets them at once: the form was accepted, or the
// server showed it again with its values. Logging out in this tab forgets them too.
const EKTP_KEEP = "ektp.keep.";

function ektpKeptKeys() {
  const keys = [];
  for (let i = 0; i < sessionStorage.length; i++) {
    const key = sessionStorage.key(i);
    if (key && key.startsWith(EKTP_KEEP)) keys.push(key);
  }
  return keys;
}

function ektpTyped(form) {
  return [...form.elements].filter((el) => el.name && !["hidden", "password", "file", "submit", "button"].includes(el.type));
}

function ektpKeepForms() {
  for (const form of document.querySelectorAll("form[data-logout]")) {
    form.addEventListener("submit", () => ektpKeptKeys().forEach((key) => sessionStorage.removeItem(key)));
  }
  if (!document.querySelector("form[data-login]")) {
    for (const key of ektpKeptKeys()) {
      let saved = null;
      try {
        saved = JSON.parse(sessionStorage.getItem(key));
      } catch (err) {
        saved = null;
      }
      sessionStorage.removeItem(key);
      const name = key.slice(EKTP_KEEP.length);
      const form = [...document.querySelectorAll("form[data-keep]")].find((f) => f.dataset.keep === name);
      if (!form || !saved || saved.user !== form.dataset.keepUser) continue;
      const fields = ektpTyped(form);
      if (fields.some((el) => el.value)) continue; // the server showed the form with its values
      for (const el of fields) {
        if (typeof saved.values[el.name] !== "string") continue;
        el.value = saved.values[el.name];
        el.dispatchEvent(new Event("input", { bubbles: true }));
        el.dispatchEvent(new Event("change", { bubbles: true }));
      }
      const note = form.querySelector("#restored");
      if (note) {
        note.textContent = form.dataset.restored;
        note.hidden = false;
      }
    }
  }
  for (const form of document.querySelectorAll("form[data-keep]")) {
    form.addEventListener("submit", () => {
      const values = {};
      for (const el of ektpTyped(form)) values[el.name] = el.value;
      sessionStorage.setItem(EKTP_KEEP + form.dataset.keep, JSON.stringify({ user: form.dataset.keepUser, values }));
    });
  }
}

// The CSRF token of the page, for scripts that post with fetch().
function ektpCsrf() {
  const field = document.querySelector("input[name=csrf_token]");
  return field ? field.value : "";
}
