"""The live-update script, served as ``/static/live.js`` (no inline script; works offline).

It asks ``/api/version`` (a few bytes) every few seconds; only when something new was stored does
it fetch the page's live parts (``?partial=1&since=VERSION``, JSON) and swap them in. It never
touches forms (they are outside the live parts), the scroll position or a part that holds the
keyboard focus or a text selection (that part waits for the next round). A pause button stops
polling; the choice is remembered in this browser.
"""

LIVE_JS = r"""
(function () {
  "use strict";
  var body = document.body;
  var version = Number(body.getAttribute("data-live-version"));
  var state = document.getElementById("live-state");
  var toggle = document.getElementById("live-toggle");
  var KEY = "align-collector-live-paused";
  var paused = false;
  try { paused = window.localStorage.getItem(KEY) === "1"; } catch (e) { /* storage disabled */ }
  var delay = 3000;
  var timer = null;
  var busy = false;

  function show(text) {
    toggle.setAttribute("aria-pressed", paused ? "true" : "false");
    toggle.textContent = paused ? "Resume updates" : "Pause updates";
    state.textContent = paused ? "paused" : (text || "live");
    state.classList.toggle("paused", paused);
  }

  function held(el) {
    if (el.contains(document.activeElement) && document.activeElement !== body) { return true; }
    var sel = window.getSelection();
    if (!sel || sel.isCollapsed || !sel.rangeCount) { return false; }
    return el.contains(sel.getRangeAt(0).commonAncestorContainer);
  }

  function upsertMessages(items) {
    var list = document.getElementById("transcript");
    if (!list) { return; }
    items.forEach(function (markup) {
      var tpl = document.createElement("template");
      tpl.innerHTML = markup;
      var li = tpl.content.firstElementChild;
      if (!li) { return; }
      var index = Number(li.getAttribute("data-index"));
      var old = list.querySelector('li[data-index="' + index + '"]');
      if (old) {
        if (old.innerHTML !== li.innerHTML) { old.replaceWith(li); }
        return;
      }
      var next = null;
      for (var i = list.children.length - 1; i >= 0; i--) {
        if (Number(list.children[i].getAttribute("data-index")) <= index) { break; }
        next = list.children[i];
      }
      list.insertBefore(li, next);
    });
  }

  function apply(data) {
    var ids = Object.keys(data.regions || {});
    for (var i = 0; i < ids.length; i++) {
      var el = document.getElementById(ids[i]);
      if (el && held(el)) { return false; }
    }
    ids.forEach(function (id) {
      var el = document.getElementById(id);
      if (el && el.innerHTML !== data.regions[id]) { el.innerHTML = data.regions[id]; }
    });
    upsertMessages(data.messages || []);
    return true;
  }

  function partialUrl() {
    var url = new URL(window.location.href);
    url.hash = "";
    url.searchParams.set("partial", "1");
    url.searchParams.set("since", String(version));
    return url.toString();
  }

  function getJson(url) {
    return fetch(url, { cache: "no-store", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    });
  }

  function schedule() {
    window.clearTimeout(timer);
    if (!paused) { timer = window.setTimeout(tick, delay); }
  }

  function tick() {
    if (paused || busy) { return; }
    if (document.hidden) { schedule(); return; }
    busy = true;
    getJson("/api/version").then(function (v) {
      if (v.poll_seconds) { delay = v.poll_seconds * 1000; }
      if (v.version === version) { return null; }
      return getJson(partialUrl()).then(function (data) {
        if (apply(data)) {
          version = data.version;
          body.setAttribute("data-live-version", String(version));
          show("updated " + new Date().toLocaleTimeString());
        }
      });
    }).then(function () {
      if (state.textContent === "offline") { show(); }
    }, function () {
      if (!paused) { state.textContent = "offline"; }
    }).then(function () { busy = false; schedule(); });
  }

  toggle.addEventListener("click", function () {
    paused = !paused;
    try { window.localStorage.setItem(KEY, paused ? "1" : "0"); } catch (e) { /* storage disabled */ }
    show();
    if (paused) { window.clearTimeout(timer); } else { tick(); }
  });
  document.addEventListener("visibilitychange", function () { if (!document.hidden && !paused) { tick(); } });
  show();
  tick();
})();
"""
