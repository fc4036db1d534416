// The waiting page of sponsored access: asks every few seconds whether the sponsor answered, then
// reloads the page, which logs the visitor in or says why not. Without JavaScript, "Check now" does it.
document.addEventListener("DOMContentLoaded", function () {
  var page = document.getElementById("sponsor-wait");
  if (!page) { return; }
  var every = 1000 * (parseInt(page.getAttribute("data-every"), 10) || 5);
  function check() {
    fetch("/sponsor/status", { credentials: "same-origin", cache: "no-store" })
      .then(function (answer) { return answer.ok ? answer.json() : { pending: false }; })
      .then(function (state) {
        if (state.pending) { window.setTimeout(check, every); } else { window.location.assign("/sponsor/wait"); }
      })
      .catch(function () { window.setTimeout(check, every); });
  }
  window.setTimeout(check, every);
});
