/* The lobby screen: rotates the slides, polls for changes with If-None-Match, keeps showing the
   last content (marked offline) when the network or the server goes away, and recovers by itself.
   One rotation timer, one poll chain and one clock interval, ever: nothing piles up. */
(function () {
  "use strict";
  var body = document.body;
  var stage = document.getElementById("stage");
  var updated = document.getElementById("updated");
  var clock = document.getElementById("clock");
  var etag = body.getAttribute("data-etag");
  var slideMs = (parseInt(body.getAttribute("data-slide-seconds"), 10) || 12) * 1000;
  var pollMs = (parseInt(body.getAttribute("data-poll-seconds"), 10) || 30) * 1000;
  var nightStart = parseInt(body.getAttribute("data-night-start"), 10);
  var nightEnd = parseInt(body.getAttribute("data-night-end"), 10);
  var index = 0;
  var rotateTimer = null;

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function hhmm(d) { return pad(d.getHours()) + ":" + pad(d.getMinutes()); }

  function show(i) {
    var all = stage.querySelectorAll(".slide");
    if (!all.length) { return; }
    index = i % all.length;
    for (var k = 0; k < all.length; k++) { all[k].classList.toggle("active", k === index); }
  }

  function rotate() {
    clearTimeout(rotateTimer);
    rotateTimer = setTimeout(function () { show(index + 1); rotate(); }, slideMs);
  }

  function tick() {
    var now = new Date();
    clock.textContent = now.getFullYear() + "-" + pad(now.getMonth() + 1) + "-" + pad(now.getDate()) + " " + hhmm(now);
    if (!isNaN(nightStart) && !isNaN(nightEnd)) {
      var h = now.getHours();
      var night = nightStart > nightEnd ? (h >= nightStart || h < nightEnd) : (h >= nightStart && h < nightEnd);
      body.classList.toggle("night", night);
    }
  }

  function stamp() { updated.textContent = hhmm(new Date()); }

  function poll() {
    var controller = new AbortController();
    var timeout = setTimeout(function () { controller.abort(); }, 10000);
    fetch(body.getAttribute("data-poll-url"), {
      headers: { "If-None-Match": "\"" + etag + "\"" },
      cache: "no-store",
      signal: controller.signal
    }).then(function (response) {
      if (response.status === 304) { return null; }
      if (response.status === 404) {  // the link was revoked: stop showing anything
        stage.textContent = "";
        body.classList.add("revoked");
        return null;
      }
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      var tag = (response.headers.get("ETag") || "").replace(/^W\//, "").replace(/"/g, "");
      return response.text().then(function (html) { return { tag: tag, html: html }; });
    }).then(function (fresh) {
      body.classList.remove("offline");
      stamp();
      if (fresh) {
        etag = fresh.tag;
        stage.innerHTML = fresh.html;  // server-rendered, escaped HTML; the old nodes go with it
        show(0);
        rotate();
      }
    }).catch(function () {
      body.classList.add("offline");  // keep the last content; "updated at" says how old it is
    }).then(function () {
      clearTimeout(timeout);
      setTimeout(poll, pollMs);
    });
  }

  function alive() {  // the heartbeat: staff see a screen that stopped reporting
    fetch(body.getAttribute("data-alive-url"), { method: "POST", cache: "no-store" }).catch(function () {});
  }

  stamp();
  tick();
  alive();
  setInterval(alive, 60000);
  setInterval(tick, 10000);
  show(0);
  rotate();
  setTimeout(poll, pollMs);
}());
