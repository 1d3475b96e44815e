/* Coordinator workspace: small helpers that the pages do without when JavaScript is off. */
(function () {
  "use strict";

  // Triage: a "select all on this page" box, shown only when it can work.
  function wireSelectAll(root) {
    root.querySelectorAll("input.select-all").forEach(function (box) {
      var label = box.closest("label");
      if (label) { label.hidden = false; }
      box.addEventListener("change", function () {
        document.querySelectorAll('input[name="contact_ids"][form="bulk-form"]').forEach(function (row) {
          row.checked = box.checked;
        });
      });
    });
  }

  // Quick capture: after a swap, put the cursor where the coordinator needs it next.
  function focusCapture() {
    var panel = document.getElementById("capture");
    if (!panel) { return; }
    var target = panel.querySelector('[aria-invalid="true"]') ||
      panel.querySelector(".candidates button") || panel.querySelector("[autofocus]");
    if (target) { target.focus(); }
  }

  document.addEventListener("DOMContentLoaded", function () { wireSelectAll(document); });
  document.addEventListener("htmx:after:swap", function () {
    wireSelectAll(document);
    focusCapture();  // no-op on pages without the capture panel
  });
}());
