// The console's dashboards (portal/console/dashboards.py): charts (uPlot) and the map of the sites
// (Leaflet) drawn from the JSON data blocks the page carries. No inline script: the page's CSP
// allows scripts from this server only. Every chart has a table beside it; the charts add nothing
// the tables do not say.
(function () {
  "use strict";

  function data(id) {
    var block = document.getElementById(id);
    return block ? JSON.parse(block.textContent) : null;
  }

  function width(element) {
    return Math.max(280, Math.min(element.clientWidth || 600, 900));
  }

  // days and minutes are UTC, as the tables say: the time axis too, whatever the browser's zone
  function utc(seconds) { return uPlot.tzDate(new Date(seconds * 1e3), "Etc/UTC"); }

  function chart(id, series, columns) {
    var element = document.getElementById(id);
    if (!element) { return; }
    element.textContent = "";
    new uPlot({
      width: width(element),
      height: 220,
      tzDate: utc,
      axes: [{}, { size: 70 }],
      series: [{}].concat(series)
    }, columns, element);
  }

  var colours = ["rgb(11, 79, 138)", "rgb(161, 19, 15)", "rgb(20, 97, 43)", "rgb(146, 64, 14)", "rgb(91, 33, 182)"];

  function minutes() {
    // an attribute of the chart's element: htmx drops the script blocks of the fragments it swaps
    var element = document.getElementById("minutes-chart");
    if (!element || !element.dataset.series) { return; }
    var m = JSON.parse(element.dataset.series);
    chart("minutes-chart", [
      { label: "accepted", stroke: colours[2], width: 2 },
      { label: "refused", stroke: colours[1], width: 2 }
    ], [m.t, m.accepted, m.refused]);
  }

  function history() {
    var h = data("history-data");
    if (!h) { return; }
    var u = h.usage;
    chart("usage-chart", [
      { label: "connections", stroke: colours[0], width: 2 },
      { label: "people", stroke: colours[2], width: 2 }
    ], [u.t, u.connections, u.people]);
    var gib = function (v) { return Math.round(v / 107374182.4) / 10; };
    chart("volume-chart", [
      { label: "in (GiB)", stroke: colours[0], width: 2 },
      { label: "out (GiB)", stroke: colours[3], width: 2 }
    ], [u.t, u.octets_in.map(gib), u.octets_out.map(gib)]);
    var r = h.refusals;
    chart("refusals-chart", r.reasons.map(function (reason, n) {
      return { label: reason, stroke: colours[(n + 1) % colours.length], width: 2 };
    }), [r.t].concat(r.counts));
  }

  // Leaflet writes an attribution as HTML: the configured one is plain text, written as such
  function text(value) {
    return value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  // No tile layer unless configured (SESAME_CONSOLE_MAP_TILES, in the map's data- attributes; the
  // page's CSP allows that server's images only): else the sites on a plain background.
  function map() {
    var sites = data("map-data");
    var element = document.getElementById("map");
    if (!sites || !element || !sites.length) { return; }
    var tiles = element.dataset.tiles;
    var view = L.map(element, { attributionControl: false });
    if (tiles) {
      L.tileLayer(tiles, { attribution: text(element.dataset.attribution || ""), maxZoom: 19 }).addTo(view);
      L.control.attribution({ prefix: false }).addTo(view);
    }
    sites.forEach(function (site) {
      var title = site.name + ": " + site.open;
      L.marker([site.lat, site.lon], { title: title, alt: title, keyboard: true }).addTo(view);
    });
    view.fitBounds(sites.map(function (site) { return [site.lat, site.lon]; }), { padding: [30, 30], maxZoom: 14 });
  }

  function start() {
    minutes();
    history();
    map();
    // htmx replaced the live numbers: draw their chart again from the new data block ("htmx:load"
    // fires on the new element; the old one, which other events name, has left the page)
    document.body.addEventListener("htmx:load", function (event) {
      if (event.target && event.target.id === "live") { minutes(); }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
