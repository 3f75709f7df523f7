// Progressive enhancement only: every page works without this file (the server does all of it too).
"use strict";

// Focus an error summary so screen readers announce it first.
function focusErrorSummary() {
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
}

// "Add a subject" / "Add an asset" without a round trip: copy the last row, renumber its fields,
// empty them. Without JavaScript the same buttons submit and the server adds the row.
function renumber(root, prefix, from, to) {
  var attributes = ["name", "id", "for", "aria-describedby"];
  root.querySelectorAll("*").forEach(function (element) {
    attributes.forEach(function (attribute) {
      var value = element.getAttribute(attribute);
      if (value && value.indexOf(prefix + from + "-") !== -1) {
        element.setAttribute(attribute, value.split(prefix + from + "-").join(prefix + to + "-"));
      }
    });
    if (element.tagName === "BUTTON" && element.value === "add_identifier-" + from) {
      element.value = "add_identifier-" + to;
    }
  });
}

function addRow(button) {
  var kind = button.value === "add_subject" ? "subject" : "asset";
  var form = button.form;
  var counter = form.querySelector("input[name=" + kind + "_rows]");
  var rows = form.querySelectorAll("fieldset." + kind);
  if (!counter || rows.length === 0) { return false; }
  var last = rows[rows.length - 1];
  var from = rows.length - 1;
  var copy = last.cloneNode(true);
  renumber(copy, kind + "s-", from, from + 1);
  copy.querySelectorAll(".field-error").forEach(function (e) { e.remove(); });
  copy.querySelectorAll(".has-error").forEach(function (e) { e.classList.remove("has-error"); });
  copy.querySelectorAll("[aria-invalid]").forEach(function (e) { e.removeAttribute("aria-invalid"); });
  copy.querySelectorAll("input[type=text], input[type=date], textarea").forEach(function (e) {
    e.value = "";
  });
  var legend = copy.querySelector("legend");
  if (legend && legend.dataset.template) {
    legend.textContent = legend.dataset.template.replace("{n}", String(from + 2));
  }
  var button_ = copy.querySelector("button[value^=add_identifier]");
  if (button_ && button_.dataset.template) {
    button_.textContent = button_.dataset.template.replace("{n}", String(from + 2));
  }
  last.after(copy);
  counter.value = String(rows.length + 1);
  var first = copy.querySelector("input, select, textarea");
  if (first && first.type !== "hidden") { first.focus(); }
  return true;
}

document.addEventListener("DOMContentLoaded", function () {
  focusErrorSummary();
  document.querySelectorAll("button[value=add_subject], button[value=add_asset]").forEach(
    function (button) {
      button.addEventListener("click", function (event) {
        if (addRow(button)) { event.preventDefault(); }
      });
    });
});
