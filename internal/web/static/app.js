// rampart dashboard behaviour: copy buttons, confirmation modals, the
// firewall's confirm countdown, the live tail of the Logs tab, passkeys and
// the Runtime form's field groups.
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

  // A page that shows a secret once (a new SMTP password) is the answer
  // to a POST. Its address becomes the tab's, so that a reload asks for
  // the tab again, without the secret, instead of posting again.
  var once = document.querySelector("[data-replace-url]");
  if (once && window.history && history.replaceState) {
    history.replaceState(null, "", once.dataset.replaceUrl);
  }

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
    var body = d.querySelector(".domain-dns-body, [data-load-body]") || d;
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

  // Update config → Runtime: without JavaScript every group of fields
  // shows, titled with the kinds it is for (data-runtime-group); this
  // hides the groups the checked kind does not use. The server ignores
  // their fields either way.
  function syncRuntime(form) {
    var kind = form.querySelector("input[name=kind]:checked");
    form.querySelectorAll("[data-runtime-group]").forEach(function (g) {
      g.hidden = !!kind && g.dataset.runtimeGroup.split(" ").indexOf(kind.value) < 0;
    });
  }
  document.querySelectorAll("form[data-runtime-form]").forEach(syncRuntime);
  document.addEventListener("change", function (ev) {
    var form = ev.target.closest && ev.target.closest("form[data-runtime-form]");
    if (form && ev.target.name === "kind") { syncRuntime(form); }
  });
  // ---- Logs tab: live tail --------------------------------------------
  //
  // The server renders the recent requests; this keeps the table live with
  // server-sent events. Rows are built with textContent only: paths and
  // hosts are whatever a visitor sent. One tail runs at a time; it stops
  // when htmx swaps its tab away.

  var KINDS = ["ok", "redirect", "client", "limited", "server", "info"];
  var CACHE = ["HIT", "MISS", "BYPASS", "STALE", "REFRESH"];
  var tail = null;

  function cell(tr, cls, text) {
    var td = document.createElement("td");
    td.className = cls;
    if (text !== undefined) { td.textContent = text; }
    tr.appendChild(td);
    return td;
  }

  function span(parent, cls, text) {
    var el = document.createElement("span");
    el.className = cls;
    el.textContent = text;
    parent.appendChild(el);
    return el;
  }

  // logRow builds what the "log-row" template renders, from the same data.
  function logRow(r) {
    var tr = document.createElement("tr");
    tr.className = "log-row log-new";
    tr.dataset.kind = KINDS.indexOf(r.kind) >= 0 ? r.kind : "info";
    var time = document.createElement("time");
    time.setAttribute("datetime", String(r.at));
    time.title = String(r.at);
    time.textContent = String(r.time);
    cell(tr, "log-time").appendChild(time);
    span(cell(tr, "log-code"), "log-status", String(r.status));
    cell(tr, "log-method", String(r.method));
    var path = cell(tr, "log-path");
    span(path, "log-path-text", String(r.path));
    if (r.host) { span(path, "log-host", String(r.host)); }
    if (r.reason) { span(path, r.note ? "log-reason log-note" : "log-reason", String(r.reason)); }
    cell(tr, "num log-size", String(r.size));
    cell(tr, "num log-took", String(r.took));
    cell(tr, "log-client", String(r.client));
    var cache = cell(tr, "log-cache-cell");
    if (CACHE.indexOf(r.cache) >= 0) { span(cache, "log-cache", r.cache).dataset.cache = r.cache; }
    return tr;
  }

  function noticeRow(text) {
    var tr = document.createElement("tr");
    tr.className = "log-notice log-new";
    var td = document.createElement("td");
    td.colSpan = 8;
    td.textContent = text;
    tr.appendChild(td);
    return tr;
  }

  function plural(n, one, many) { return n === 1 ? "1 " + one : n.toLocaleString("en") + " " + many; }

  function setStatus(t, state, text) {
    var status = t.root.querySelector("#logs-status");
    if (status) { status.dataset.state = state; }
    var label = t.root.querySelector("#logs-status-text");
    if (label) { label.textContent = text; }
  }

  function prepend(t, tr) {
    var body = t.root.querySelector("#log-rows");
    if (!body) { return; }
    body.insertBefore(tr, body.firstChild);
    var keep = parseInt(t.root.dataset.keep, 10) || 500;
    while (body.rows.length > keep) { body.deleteRow(body.rows.length - 1); }
    var empty = t.root.querySelector("#logs-empty");
    if (empty) { empty.hidden = true; }
  }

  function connect(t) {
    var url = t.root.dataset.stream;
    if (t.last) { url += "?after=" + encodeURIComponent(t.last); }
    var es = new EventSource(url);
    t.es = es;
    setStatus(t, "connecting", "Connecting…");
    es.onopen = function () { if (t.es === es) { setStatus(t, "live", "Live"); } };
    es.addEventListener("entry", function (ev) {
      if (t.es !== es) { return; }
      if (ev.lastEventId) {
        // Kept on the element too, for a page restored from the back/forward cache.
        t.last = ev.lastEventId;
        t.root.dataset.after = t.last;
      }
      prepend(t, logRow(JSON.parse(ev.data)));
    });
    es.addEventListener("dropped", function (ev) {
      if (t.es !== es) { return; }
      var n = JSON.parse(ev.data).dropped;
      prepend(t, noticeRow(t.resumed
        ? plural(n, "request", "requests") + " came in while paused and are no longer kept."
        : plural(n, "request", "requests") + " not shown: this page fell behind."));
    });
    es.addEventListener("end", function (ev) {
      if (t.es !== es) { return; }
      es.close();
      t.es = null;
      var toggle = t.root.querySelector("#logs-toggle");
      if (toggle) { toggle.hidden = true; }
      setStatus(t, "ended", JSON.parse(ev.data).message);
    });
    es.onerror = function () {
      if (t.es !== es) { return; }
      if (es.readyState === EventSource.CLOSED) {
        t.es = null;
        setStatus(t, "ended", "Disconnected. Reload the page to see new requests.");
      } else {
        setStatus(t, "reconnecting", "Reconnecting…");
      }
    };
  }

  function stopTail() {
    if (!tail) { return; }
    if (tail.es) { tail.es.close(); }
    tail = null;
  }

  function startTail(scope) {
    var root = null;
    if (scope && scope.id === "logs") {
      root = scope;
    } else if (scope && scope.querySelector) {
      root = scope.querySelector("#logs");
    }
    if (!root || (tail && tail.root === root) || !window.EventSource) { return; }
    stopTail();
    tail = { root: root, es: null, last: root.dataset.after || "", paused: false, resumed: false };
    var controls = root.querySelector("#logs-controls");
    if (controls) { controls.hidden = false; }
    var toggle = root.querySelector("#logs-toggle");
    if (toggle) { toggle.hidden = false; toggle.textContent = "Pause"; toggle.setAttribute("aria-pressed", "false"); }
    connect(tail);
  }

  function togglePause(button) {
    var t = tail;
    if (!t || !t.root.contains(button)) { return; }
    t.paused = !t.paused;
    button.setAttribute("aria-pressed", String(t.paused));
    button.textContent = t.paused ? "Resume" : "Pause";
    if (t.paused) {
      if (t.es) { t.es.close(); t.es = null; }
      setStatus(t, "paused", "Paused");
    } else {
      t.resumed = true;
      connect(t);
    }
  }

  document.addEventListener("click", function (ev) {
    var b = ev.target.closest && ev.target.closest("#logs-toggle");
    if (b) { togglePause(b); }
  });
  document.addEventListener("htmx:beforeSwap", function (ev) {
    if (tail && ev.detail && ev.detail.target && ev.detail.target.contains(tail.root)) { stopTail(); }
  });
  document.addEventListener("htmx:load", function (ev) { startTail(ev.detail && ev.detail.elt); });
  window.addEventListener("pagehide", stopTail);
  window.addEventListener("pageshow", function (ev) { if (ev.persisted) { startTail(document); } });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { startTail(document); });
  } else {
    startTail(document);
  }

  // ---- Security tab: the firewall's confirm window ------------------------
  //
  // The banner says how many seconds were left when the server rendered it
  // (data-countdown), so that a wrong clock on this computer cannot make it
  // lie; this counts down from there, and at zero asks htmx to fetch the
  // banner again, which then says whether the rules were rolled back. htmx
  // also refetches it every few seconds (hx-trigger in the template).

  function tickCountdowns() {
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      if (!el.dataset.countdownFrom) { el.dataset.countdownFrom = String(Date.now()); }
      var total = parseInt(el.dataset.countdown, 10) || 0;
      var left = Math.max(0, total - Math.floor((Date.now() - Number(el.dataset.countdownFrom)) / 1000));
      var text = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
      if (el.textContent !== text) { el.textContent = text; }
      if (left === 0 && !el.dataset.countdownDone) {
        el.dataset.countdownDone = "1";
        var banner = el.closest("[hx-get]");
        if (banner && window.htmx) { window.htmx.trigger(banner, "fw-deadline"); }
      }
    });
  }
  setInterval(tickCountdowns, 250);
  tickCountdowns();

  // ---- Passkeys: the account page's "Add passkey", the code page's
  // "Use a passkey" ----------------------------------------------------------
  //
  // A form marked data-passkey-register or data-passkey-login posts itself
  // (URL-encoded, with its CSRF token) to the URL in that attribute, which
  // answers with WebAuthn options as JSON. The browser makes or uses the
  // passkey; its answer goes, as JSON, into the form's hidden "credential"
  // field, and the form is then submitted as usual. Binary fields travel
  // as base64url both ways, converted here by hand.

  function fromB64url(s) {
    var b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var bin = atob(b64);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { bytes[i] = bin.charCodeAt(i); }
    return bytes.buffer;
  }

  function toB64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) { bin += String.fromCharCode(bytes[i]); }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIDs(list) {
    return (list || []).map(function (c) {
      var copy = Object.assign({}, c);
      copy.id = fromB64url(c.id);
      return copy;
    });
  }

  function passkeyAnswer(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults(),
      response: { clientDataJSON: toB64url(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toB64url(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = toB64url(r.authenticatorData);
      out.response.signature = toB64url(r.signature);
      if (r.userHandle) { out.response.userHandle = toB64url(r.userHandle); }
    }
    return JSON.stringify(out);
  }

  function passkeyCeremony(form, register) {
    var status = form.querySelector("[data-passkey-status]");
    var button = form.querySelector("button[type=submit]");
    var say = function (text, isError) {
      if (!status) { return; }
      status.textContent = text;
      status.classList.toggle("text-error", !!isError);
    };
    if (!window.PublicKeyCredential || !navigator.credentials) {
      say("This browser cannot use passkeys here. They need the dashboard opened at https://… or http://localhost.", true);
      return;
    }
    var token = form.querySelector("input[name=csrf_token]");
    button.disabled = true;
    say(register ? "Follow your browser's prompt to make the passkey…" : "Follow your browser's prompt to use your passkey…");
    fetch(form.getAttribute(register ? "data-passkey-register" : "data-passkey-login"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": token ? token.value : "" },
      body: new URLSearchParams(new FormData(form))
    }).then(function (resp) {
      return resp.json().catch(function () { return { error: "The server's answer could not be read: reload the page and try again." }; });
    }).then(function (opts) {
      if (opts.error) { throw new Error(opts.error); }
      var pk = opts.publicKey;
      pk.challenge = fromB64url(pk.challenge);
      if (register) {
        pk.user.id = fromB64url(pk.user.id);
        pk.excludeCredentials = withIDs(pk.excludeCredentials);
        return navigator.credentials.create({ publicKey: pk });
      }
      pk.allowCredentials = withIDs(pk.allowCredentials);
      return navigator.credentials.get({ publicKey: pk });
    }).then(function (cred) {
      form.querySelector("input[name=credential]").value = passkeyAnswer(cred);
      say("Checking…");
      form.submit();
    }).catch(function (err) {
      button.disabled = false;
      var msg = err && err.message ? err.message : String(err);
      if (err && err.name === "NotAllowedError") {
        msg = "The passkey prompt was closed or timed out. Try again when ready.";
      } else if (err && err.name === "InvalidStateError") {
        msg = "This device already holds one of your passkeys for rampart.";
      }
      say(msg, true);
    });
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var register = form.hasAttribute("data-passkey-register");
    if (!register && !form.hasAttribute("data-passkey-login")) { return; }
    if (form.querySelector("input[name=credential]").value) { return; }
    ev.preventDefault();
    if (register && !form.reportValidity()) { return; }
    passkeyCeremony(form, register);
  });
})();
