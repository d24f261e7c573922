// Access Portal: small behaviours on top of htmx. No framework, no CDN.
(function () {
  document.addEventListener("DOMContentLoaded", function () {
    if (!window.htmx) return;
    // Swap 422 (form with errors) like a success; other 4xx/5xx raise htmx:responseError.
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "422", swap: true },
      { code: "[45]..", swap: false, error: true },
    ];
  });

  // A filter form keeps the list's current sort (the column links change it in the URL).
  document.addEventListener("htmx:configRequest", function (event) {
    var form = event.detail.elt;
    if (!form || !form.hasAttribute || !form.hasAttribute("data-keep-sort")) return;
    var sort = new URLSearchParams(location.search).get("sort") || form.getAttribute("data-keep-sort");
    if (sort) event.detail.parameters.set("sort", sort);
  });

  // A failed htmx request says so instead of doing nothing: one message, however many
  // requests fail (the board refreshes every 10 s), gone once a request succeeds again.
  function requestFailed(text) {
    var box = document.getElementById("messages");
    if (!box) return;
    var alert = document.getElementById("request-error");
    if (!alert) {
      box.insertAdjacentHTML("beforeend", '<div id="request-error" class="alert alert-danger py-2" role="alert"></div>');
      alert = document.getElementById("request-error");
    }
    alert.textContent = text + " (" + new Date().toLocaleTimeString() + ")";
  }
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    requestFailed(status === 403 ? "Your role may not do this." : "The request failed (" + status + "). What you see may be out of date; try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    requestFailed("The portal did not answer: is the network (or the server) down? What you see may be out of date.");
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail.xhr;
    var alert = document.getElementById("request-error");
    if (alert && event.detail.successful && xhr && xhr.status < 400) alert.remove();
  });

  // Copy buttons: <button data-copy-target="#id">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy-target"));
    if (!source) return;
    var text = source.innerText;
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done);
    } else {
      var area = document.createElement("textarea");
      area.value = text; document.body.appendChild(area); area.select();
      document.execCommand("copy"); area.remove(); done();
    }
  });

  // Charts: <canvas data-chart='{"type": ..., "data": ..., "options": ...}'>, drawn on load and after swaps.
  function drawCharts(root) {
    if (!window.Chart) return;
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas._chart) canvas._chart.destroy();
      var config = JSON.parse(canvas.getAttribute("data-chart"));
      config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
      canvas._chart = new Chart(canvas, config);
    });
  }
  window.addEventListener("load", function () { drawCharts(document); });
  document.addEventListener("htmx:afterSettle", function (event) { drawCharts(event.target); });

  // Bars: <span data-width="42"> (a percentage). Set through the CSSOM, which the
  // Content-Security-Policy allows, where a style="" attribute would be refused.
  function setWidths(root) {
    root.querySelectorAll("[data-width]").forEach(function (bar) {
      var value = parseFloat(bar.getAttribute("data-width"));
      bar.style.width = (isFinite(value) ? Math.max(0, Math.min(100, value)) : 0) + "%";
    });
  }
  document.addEventListener("DOMContentLoaded", function () { setWidths(document); });
  document.addEventListener("htmx:load", function (event) { setWidths(event.target); });

  // <select data-autosubmit>: submit its form on change (instead of an inline onchange).
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("[data-autosubmit]") && event.target.form) {
      event.target.form.requestSubmit ? event.target.form.requestSubmit() : event.target.form.submit();
    }
  });
})();
