// The branding page's live preview: as the fields change, the framed log-in page is reloaded
// with the draft (the server renders the portal's real template; nothing is drawn here).
(function () {
  "use strict";
  var form = document.getElementById("branding");
  var frame = document.getElementById("preview");
  if (!form || !frame) { return; }
  var base = frame.getAttribute("data-preview");
  var fields = ["title", "logo_url", "color", "welcome_text"];
  var timer = null;
  function reload() {
    var query = new URLSearchParams();
    fields.forEach(function (name) {
      var input = form.elements.namedItem(name);
      if (input && input.value.trim()) { query.set(name, input.value.trim()); }
    });
    var text = query.toString();
    frame.src = base + (text ? "?" + text : "");
  }
  form.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(reload, 300);
  });
})();
