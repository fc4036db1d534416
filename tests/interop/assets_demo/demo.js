// The demo page of tests/interop/test_assets_browser.py: a chart and a map drawn from data the page
// carries as JSON (no inline script: the page's CSP allows scripts from this server only).
(function () {
  "use strict";
  function data(id) { return JSON.parse(document.getElementById(id).textContent); }

  var series = data("chart-data");
  window.demoChart = new uPlot({
    width: 360,
    height: 200,
    series: [
      {},
      { label: "accepted", stroke: "rgb(0, 128, 0)", width: 3 },
      { label: "refused", stroke: "rgb(200, 0, 0)", width: 3 }
    ]
  }, [series.t, series.accepted, series.refused], document.getElementById("chart"));

  // No tile layer: the sites on a plain background (portal/maptiles.py), fitted to their bounds.
  var sites = data("sites");
  var map = L.map("map", { attributionControl: false });
  sites.forEach(function (site) {
    L.marker([site.lat, site.lon], { title: site.name, alt: site.name }).addTo(map);
  });
  map.fitBounds(sites.map(function (site) { return [site.lat, site.lon]; }), { padding: [30, 30] });
})();
