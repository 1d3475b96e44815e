// Draws the reports page's charts from their canvas's data-chart attribute (figures the
// server computed; the tables beside them hold the same numbers). No inline script: CSP.
(function () {
  "use strict";
  if (typeof Chart === "undefined") { return; }  // the tables still say everything
  var palette = ["#0f2c4d", "#2f6fae", "#5fa8d3", "#7fb069", "#c8553d", "#9a8c98"];
  var reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var spec = JSON.parse(canvas.getAttribute("data-chart"));
    var axis = { stacked: !!spec.stacked, ticks: { precision: 0 }, beginAtZero: true };
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: spec.labels,
        datasets: spec.datasets.map(function (set, i) {
          return { label: set.label, data: set.data, backgroundColor: palette[i % palette.length] };
        })
      },
      options: {
        indexAxis: spec.horizontal ? "y" : "x",
        animation: reduced ? false : { duration: 300 },
        responsive: true,
        maintainAspectRatio: false,
        scales: { x: axis, y: axis },
        plugins: { legend: { position: "bottom" } }
      }
    });
  });
})();
