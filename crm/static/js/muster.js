/* Muster's own script: send the CSRF token with every htmx request (htmx 4 event names). */
document.addEventListener("htmx:config:request", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta && event.detail && event.detail.ctx) {
    event.detail.ctx.request.headers["X-CSRFToken"] = meta.getAttribute("content");
  }
});
