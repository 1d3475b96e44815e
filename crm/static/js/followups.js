/* Follow-up queues: after an in-place action, keep the keyboard where it was (the row's message). */
(function () {
  "use strict";
  document.addEventListener("htmx:after:swap", function () {
    var message = document.querySelector("table.followups .row-message");
    if (message) { message.focus(); }
  });
}());
