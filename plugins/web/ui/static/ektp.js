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
  // A submit button is disabled once pressed, so a double click does not send twice.
  for (const form of document.querySelectorAll("form")) {
    form.addEventListener("submit", () => {
      // form.elements also holds buttons outside the form that name it (form="...").
      for (const button of form.elements) {
        if (button.type === "submit") setTimeout(() => { button.disabled = true; }, 0);
      }
    });
  }
});

// The CSRF token of the page, for scripts that post with fetch().
function ektpCsrf() {
  const field = document.querySelector("input[name=csrf_token]");
  return field ? field.value : "";
}
