/* Drafts: what someone types into a form marked data-draft stays in this browser (localStorage)
   until the server confirms it was saved: the portal_saved cookie names the idempotency key of
   the form it saved (hooks.py). A form that could not be saved (the 503 page, a lost connection)
   offers its text again on the next visit, with its key, so that sending it again cannot save it
   twice. An htmx form answered 503 shows why by the form. Signing out forgets every draft.
   Without JavaScript nothing changes: the 503 page says to go back, and the browser keeps the
   form's values. */
(function () {
  "use strict";
  var PREFIX = "portal-draft:";
  var SKIPPED = ["hidden", "password", "file", "submit", "button", "reset", "image"];
  var store;
  try {
    store = window.localStorage;
    store.getItem(PREFIX);
  } catch (e) {
    return;  // storage refused (a private window, a policy): the page works as without JavaScript
  }

  function keyInput(form) { return form.querySelector("input[name=idempotency_key]"); }
  function keyOf(form) { var input = keyInput(form); return input ? input.value : ""; }
  function nameOf(form) { return PREFIX + form.getAttribute("data-draft"); }

  function controls(form) {
    return Array.prototype.filter.call(form.elements, function (el) {
      return el.name && el.name !== "csrf_token" && el.name !== "idempotency_key" &&
        SKIPPED.indexOf((el.type || "").toLowerCase()) < 0;
    });
  }

  function isChoice(el) { return el.type === "radio" || el.type === "checkbox"; }

  /* The form's values, or null when nothing has been written in it (choices alone are no draft). */
  function values(form) {
    var found = {}, written = false;
    controls(form).forEach(function (el) {
      if (isChoice(el)) {
        found[el.name + "=" + el.value] = el.checked;
      } else {
        found[el.name] = el.value;
        if (el.tagName !== "SELECT" && el.value.trim() !== "") { written = true; }
      }
    });
    return written ? found : null;
  }

  function load(form) {
    try { return JSON.parse(store.getItem(nameOf(form))); } catch (e) { return null; }
  }

  function save(form) {
    var found = values(form);
    try {
      if (found) {
        store.setItem(nameOf(form), JSON.stringify({ key: keyOf(form), values: found, at: Date.now() }));
      } else {
        store.removeItem(nameOf(form));
      }
    } catch (e) { /* storage full: the form itself still holds the text */ }
  }

  function fill(form, draft) {
    controls(form).forEach(function (el) {
      if (isChoice(el)) {
        var choice = el.name + "=" + el.value;
        if (choice in draft.values) { el.checked = draft.values[choice]; }
      } else if (el.name in draft.values) {
        el.value = draft.values[el.name];
      }
    });
    var input = keyInput(form);
    if (input && draft.key) { input.value = draft.key; }
  }

  /* Forget the drafts the server has confirmed (the cookie), then the cookie. */
  function confirmed() {
    var match = document.cookie.match(/(?:^|;\s*)portal_saved=([^;]*)/);
    if (!match) { return; }
    var saved = decodeURIComponent(match[1]);
    for (var i = store.length - 1; i >= 0; i--) {
      var name = store.key(i);
      if (name && name.indexOf(PREFIX) === 0) {
        var draft = null;
        try { draft = JSON.parse(store.getItem(name)); } catch (e) { draft = null; }
        if (!draft || draft.key === saved) { store.removeItem(name); }
      }
    }
    document.cookie = "portal_saved=; Max-Age=0; path=/; SameSite=Lax";
  }

  function forgetAll() {
    for (var i = store.length - 1; i >= 0; i--) {
      var name = store.key(i);
      if (name && name.indexOf(PREFIX) === 0) { store.removeItem(name); }
    }
  }

  function offer(form) {
    var box = form.querySelector("[data-draft-offer]");
    var draft = load(form);
    // The same form again (refused with an error, shown with what was typed), or text in it already: nothing to offer.
    if (!box || !draft || !draft.values || draft.key === keyOf(form) || values(form)) { return; }
    box.hidden = false;
    box.querySelector("[data-draft-restore]").addEventListener("click", function () {
      fill(form, draft);
      box.hidden = true;
      var first = form.querySelector("textarea, input[type=text]");
      if (first) { first.focus(); }
    });
    box.querySelector("[data-draft-discard]").addEventListener("click", function () {
      store.removeItem(nameOf(form));
      box.hidden = true;
    });
  }

  function watch(form) {
    if (form.getAttribute("data-draft-watched")) { return; }
    form.setAttribute("data-draft-watched", "1");
    offer(form);
    var box = form.querySelector("[data-draft-offer]");
    function changed() {
      if (box && !box.hidden) { box.hidden = true; }  // writing anew: this becomes the draft
      save(form);
    }
    form.addEventListener("input", changed);
    form.addEventListener("change", changed);
    form.addEventListener("submit", function () { save(form); });
  }

  function start(root) {
    confirmed();
    if (root.matches && root.matches("form[data-draft]")) { watch(root); }
    Array.prototype.forEach.call(root.querySelectorAll("form[data-draft]"), watch);
    Array.prototype.forEach.call(root.querySelectorAll("form[data-drafts-forget]"), function (form) {
      form.addEventListener("submit", forgetAll);
    });
  }

  // htmx: a form answered 503 shows the reason by the form; its text stays in it and in the draft.
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    if (!detail.xhr || detail.xhr.status !== 503) { return; }
    var sender = (detail.requestConfig && detail.requestConfig.elt) || detail.elt;  // detail.elt is the target
    var form = sender && sender.closest ? sender.closest("form[data-draft]") : null;
    var status = form ? form.querySelector("[data-draft-status]") : null;
    if (!status) { return; }
    save(form);
    detail.shouldSwap = true;
    detail.isError = false;
    detail.target = status;
    detail.swapOverride = "innerHTML";
  });
  document.body.addEventListener("htmx:afterRequest", confirmed);
  document.body.addEventListener("htmx:load", function (event) { start(event.detail.elt); });
  start(document);
}());
