// Submits the hand-off form to the access point at once; without JavaScript the button does it.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("handoff");
  if (form) { form.submit(); }
});
