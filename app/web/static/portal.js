// Progressive enhancement only: every page works without this file.
// Moves focus to an error summary so screen readers announce it first.
document.addEventListener("DOMContentLoaded", function () {
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
});
