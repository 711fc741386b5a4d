// Posts the preselected score once a person is looking at the page. Link scanners that fetch
// the page get nothing recorded (GET never records); automated browsers (navigator.webdriver)
// and hidden tabs are left to the visible confirm button.
(function () {
  "use strict";
  function submitOnce(form) {
    if (form.dataset.sent) { return; }
    form.dataset.sent = "1";
    form.submit();
  }
  function ready() {
    var form = document.querySelector("form[data-auto-submit]");
    if (!form || navigator.webdriver) { return; }
    if (document.visibilityState === "visible") { submitOnce(form); return; }
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") { submitOnce(form); }
    });
  }
  document.addEventListener("DOMContentLoaded", ready);
}());
