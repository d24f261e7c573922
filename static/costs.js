// Cost pages: the date-range form and small guards, wired by data-attributes (no inline script).
(function () {
  // A preset range submits at once; editing a date turns the range to "custom".
  document.addEventListener("change", function (event) {
    var target = event.target;
    var form = target.closest("[data-costs-range-form]");
    if (form && target.matches("[data-costs-range]")) {
      if (target.value !== "custom") form.requestSubmit();
      return;
    }
    if (form && target.matches("input[type=date]")) {
      var preset = form.querySelector("[data-costs-range]");
      if (preset) preset.value = "custom";
      return;
    }
    if (target.matches("[data-costs-autosubmit]") && target.form) target.form.requestSubmit();
  });

  // A button that starts a long job is pressed once: a double click must not queue it twice.
  document.addEventListener("submit", function (event) {
    var button = event.target.querySelector("[data-costs-once]");
    if (!button) return;
    if (button.dataset.pressed) { event.preventDefault(); return; }
    button.dataset.pressed = "1";
    button.classList.add("disabled");
  });

  // Forms that ask before they act: <form data-costs-confirm="Delete this price?">.
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute("data-costs-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });
})();
