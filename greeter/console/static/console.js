// The console's only script, progressive: every page works without it.
// - forms that upload photos say that they are being analysed;
// - greeting forms show the `greeter greetings check` problems, its warnings about characters
//   the screen cannot draw and the rendered messages while they are typed, by posting the form
//   to its own URL with "X-Preview: 1".
"use strict";

document.querySelectorAll("form[enctype='multipart/form-data']").forEach(function (form) {
  form.addEventListener("submit", function () {
    var progress = form.querySelector(".progress");
    if (progress) { progress.hidden = false; }
  });
});

function fill(list, lines) {
  list.textContent = "";
  lines.forEach(function (line) {
    var item = document.createElement("li");
    item.textContent = line;
    list.appendChild(item);
  });
}

document.querySelectorAll("form[data-preview]").forEach(function (form) {
  var timer = null;
  var problems = document.querySelector("[data-problems]");
  var warnings = document.querySelector("[data-warnings]");
  var preview = form.querySelector("[data-preview-list]");
  function refresh() {
    var data = new FormData(form);
    data.set("action", "preview");
    // form.action would be the buttons named "action": read the attribute
    fetch(form.getAttribute("action"), { method: "POST", body: data, headers: { "X-Preview": "1" },
                         credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (result) {
        if (!result) { return; }
        if (problems) { fill(problems, result.problems); problems.hidden = !result.problems.length; }
        if (warnings) {
          fill(warnings.querySelector("ul"), result.warnings);
          warnings.hidden = !result.warnings.length;
        }
        if (preview) { fill(preview, result.preview); }
      })
      .catch(function () { /* the Preview button still works */ });
  }
  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  });
});
