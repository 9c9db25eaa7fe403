// rampart dashboard behaviour: copy buttons and confirmation modals.
//
// Loaded with defer from the page's own origin (the CSP allows no inline
// script). Listeners sit on the document, so they keep working for content
// that htmx swaps in later. Without JavaScript every page still works: the
// delete button is a link to a confirmation page.
(function () {
  "use strict";

  // Controls that need JavaScript (file pickers that fill a textarea) are
  // hidden until it runs.
  document.documentElement.classList.add("js");

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain HTTP on a non-localhost address has no Clipboard API.
    return new Promise(function (resolve, reject) {
      var ta = document.createElement("textarea");
      ta.value = text;
      ta.setAttribute("readonly", "");
      ta.className = "visually-hidden";
      document.body.appendChild(ta);
      ta.select();
      try {
        if (document.execCommand("copy")) { resolve(); } else { reject(new Error("copy refused")); }
      } catch (e) {
        reject(e);
      } finally {
        ta.remove();
      }
    });
  }

  function flashLabel(button, text, cls) {
    var label = button.querySelector(".copy-label");
    if (!label) { return; }
    var before = label.dataset.label || label.textContent;
    label.dataset.label = before;
    label.textContent = text;
    button.classList.add(cls);
    clearTimeout(button._copyTimer);
    button._copyTimer = setTimeout(function () {
      label.textContent = before;
      button.classList.remove(cls);
    }, 1600);
  }

  // syncConfirm enables a form's submit button only when the confirmation
  // input holds exactly the expected text (the service name).
  function syncConfirm(input) {
    var form = input.form;
    var submit = form && form.querySelector("[data-confirm-submit]");
    if (submit) { submit.disabled = input.value.trim() !== input.dataset.confirmMatch; }
  }

  document.addEventListener("click", function (ev) {
    var t = ev.target;

    var copy = t.closest("[data-copy]");
    if (copy) {
      copyText(copy.dataset.copy).then(
        function () { flashLabel(copy, "Copied", "copied"); },
        function () { flashLabel(copy, "Press Ctrl+C", "failed"); }
      );
      return;
    }

    var opener = t.closest("[data-open-dialog]");
    if (opener) {
      var dialog = document.getElementById(opener.dataset.openDialog);
      if (dialog && typeof dialog.showModal === "function") {
        ev.preventDefault();
        // One modal serves every row: the opener names what it is about.
        if (opener.dataset.fillAction) {
          var form = dialog.querySelector("form[data-fill-action]");
          if (form) { form.setAttribute("action", opener.dataset.fillAction); }
          dialog.querySelectorAll("[data-fill-name]").forEach(function (el) {
            el.textContent = opener.dataset.fillName || "";
          });
        }
        var input = dialog.querySelector("[data-confirm-match]");
        if (input) { input.value = ""; syncConfirm(input); }
        dialog.showModal();
        if (input) { input.focus(); }
      }
      return;
    }

    var closer = t.closest("[data-close-dialog]");
    if (closer && closer.closest("dialog")) {
      ev.preventDefault();
      closer.closest("dialog").close();
      return;
    }

    // A click on the backdrop lands on the <dialog> itself (its content
    // fills it edge to edge): treat it as Cancel.
    if (t.tagName === "DIALOG" && t.open) {
      var r = t.getBoundingClientRect();
      if (ev.clientX < r.left || ev.clientX > r.right || ev.clientY < r.top || ev.clientY > r.bottom) {
        t.close();
      }
    }
  });

  // A <details data-load-on-open="URL"> fetches its body (through htmx, so
  // the CSRF header and error handling are the usual ones) each time it is
  // opened: the DNS details of a custom domain are asked for only when a
  // person wants them, and are fresh every time. "toggle" does not bubble,
  // hence the capture.
  document.addEventListener("toggle", function (ev) {
    var d = ev.target;
    if (!d.matches || !d.matches("details[data-load-on-open]") || !d.open || !window.htmx) { return; }
    var body = d.querySelector(".domain-dns-body") || d;
    window.htmx.ajax("GET", d.dataset.loadOnOpen, { target: body, swap: "innerHTML" });
  }, true);

  // <input type=file data-fill-textarea=ID> reads the chosen file into the
  // textarea ID: a PEM certificate or key is text, and the form stays a
  // plain urlencoded POST.
  document.addEventListener("change", function (ev) {
    var input = ev.target;
    if (!input.matches || !input.matches("input[type=file][data-fill-textarea]") || !input.files || !input.files[0]) { return; }
    var ta = document.getElementById(input.dataset.fillTextarea);
    var file = input.files[0];
    if (!ta) { return; }
    if (file.size > 128 * 1024) {
      ta.value = "";
      ta.setAttribute("placeholder", file.name + " is larger than 128 KiB: that is not a PEM certificate or key");
      return;
    }
    file.text().then(function (text) { ta.value = text; });
  });

  document.addEventListener("input", function (ev) {
    if (ev.target.matches && ev.target.matches("[data-confirm-match]")) { syncConfirm(ev.target); }
  });
})();
