/* Relance's own script (the Content-Security-Policy allows scripts from this site only: no inline script, no
   inline event handler, no eval). Pages work without it; it adds:
   - a message in the flashes when an htmx request fails (text from #flashes[data-request-failed]);
   - a confirmation before submitting a form marked data-confirm="question";
   - the reminder text editor: variables inserted at the cursor, an invoice picked for the preview. */
(function () {
  "use strict";

  document.addEventListener("htmx:response:error", function (evt) {
    var ctx = evt.detail && evt.detail.ctx, response = ctx && ctx.response;
    var box = document.getElementById("flashes");
    if (!box || !response || response.status === 422) return;
    var p = document.createElement("p");
    p.className = "flash flash-error";
    p.textContent = (box.dataset.requestFailed || "").replace("__S__", response.status);
    box.appendChild(p);
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form instanceof HTMLFormElement ? form.dataset.confirm : null;
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  function templateEditor() {
    var form = document.getElementById("tpl-form");
    if (!form) return;
    var last = document.getElementById("tpl-body");
    form.querySelectorAll("#tpl-subject, #tpl-body").forEach(function (el) {
      el.addEventListener("focus", function () { last = el; });
    });
    document.querySelectorAll("button.var").forEach(function (button) {
      button.addEventListener("click", function () {
        var start = last.selectionStart, end = last.selectionEnd;
        if (start == null) { start = end = last.value.length; }
        last.setRangeText(button.dataset.var, start, end, "end");
        last.focus();
        last.dispatchEvent(new Event("input", {bubbles: true}));
      });
    });
    document.addEventListener("click", function (event) {
      var pick = event.target.closest("button.pick-invoice");
      if (!pick) return;
      document.getElementById("invoice_id").value = pick.dataset.invoice;
      document.getElementById("invoice-q").value = pick.dataset.label;
      document.getElementById("invoice-results").innerHTML = "";
      htmx.trigger(form, "preview");
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", templateEditor);
  } else {
    templateEditor();
  }
})();
