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
});

// The CSRF token of the page, for scripts that post with fetch().
function ektpCsrf() {
  const field = document.querySelector("input[name=csrf_token]");
  return field ? field.value : "";
}
