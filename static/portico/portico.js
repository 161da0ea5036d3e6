/* Portico's one script, loaded with `defer` on every page (no inline script: the pages run
   under a strict Content-Security-Policy).
   - Error summary (GOV.UK pattern): after a failed submit, focus moves to the summary so a
     screen reader reads every problem at once; its links focus the field and show its label.
   - Copy buttons: <button data-copy="input-id"> copies that input's value. */
(function () {
  "use strict";

  function fieldLabel(input) {
    var fieldset = input.closest("fieldset");
    if (fieldset && fieldset.querySelector("legend")) { return fieldset.querySelector("legend"); }
    return document.querySelector('label[for="' + input.id + '"]') || input;
  }

  function initErrorSummary() {
    var summary = document.querySelector("[data-error-summary]");
    if (!summary) { return; }
    summary.focus();
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      if (!link) { return; }
      var input = document.getElementById(link.getAttribute("href").slice(1));
      if (!input) { return; }
      event.preventDefault();
      var details = input.closest("details");
      if (details) { details.open = true; }
      fieldLabel(input).scrollIntoView();
      input.focus({ preventScroll: true });
    });
  }

  function fallbackCopy(input) {
    input.focus(); input.select(); input.setSelectionRange(0, input.value.length);
    try { return document.execCommand("copy"); } catch (e) { return false; }
  }

  function initCopyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var input = document.getElementById(button.getAttribute("data-copy"));
        var label = button.getAttribute("aria-label");  // "Copy Identifier": the visible "Copy" says less
        var done = function (ok) {
          button.textContent = ok ? "Copied" : "Press Ctrl+C";
          button.setAttribute("aria-label", ok ? label.replace(/^Copy/, "Copied") : label.replace(/^Copy/, "Press Ctrl+C to copy"));
          button.classList.toggle("copied", ok);
          if (!ok) { input.focus(); input.select(); }
          clearTimeout(button._reset);
          button._reset = setTimeout(function () {
            button.textContent = "Copy"; button.setAttribute("aria-label", label); button.classList.remove("copied");
          }, 2000);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(input.value).then(function () { done(true); }, function () { done(fallbackCopy(input)); });
        } else {
          done(fallbackCopy(input));
        }
      });
    });
  }

  initErrorSummary();
  initCopyButtons();
})();
