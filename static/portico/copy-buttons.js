// Copy buttons of the SSO settings page (values to paste into Entra).
(function () {
  function fallbackCopy(input) {
    input.focus(); input.select(); input.setSelectionRange(0, input.value.length);
    try { return document.execCommand("copy"); } catch (e) { return false; }
  }
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
})();
