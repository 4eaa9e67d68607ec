/*
 * The charge point page's live values: polls the page's live endpoint every few seconds and rewrites only the
 * texts that changed (elements marked data-live="<key>"), so nothing flickers or jumps; new OCPP frames are
 * added on top of the frame table. Works without this script too: the page is complete when loaded.
 */
(function () {
  "use strict";

  var MAX_FRAMES = 100;
  var root = document.getElementById("station-console");
  if (!root || !window.fetch) {
    return;
  }
  var url = root.dataset.liveUrl;
  var interval = (parseInt(root.dataset.interval, 10) || 5) * 1000;
  var withFrames = root.dataset.frames === "1";
  var lastFrame = parseInt(root.dataset.lastFrame, 10) || 0;

  function setText(key, text) {
    var nodes = document.querySelectorAll('[data-live="' + key.replace(/"/g, "") + '"]');
    for (var i = 0; i < nodes.length; i++) {
      if (nodes[i].textContent !== text) {
        nodes[i].textContent = text;
      }
    }
  }

  function cell(text) {
    var td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function frameRow(frame) {
    var tr = document.createElement("tr");
    tr.dataset.frameId = frame.id;
    tr.appendChild(cell(frame.at));
    tr.appendChild(cell(frame.direction_text));
    tr.appendChild(cell(frame.label));
    tr.appendChild(cell(frame.message_id));
    var td = document.createElement("td");
    var pre = document.createElement("pre");
    pre.className = "ocpp-payload";
    pre.textContent = frame.payload;
    td.appendChild(pre);
    tr.appendChild(td);
    return tr;
  }

  function addFrames(frames) {
    var body = document.getElementById("frame-rows");
    if (!body || !frames.length) {
      return;
    }
    var empty = body.querySelector("tr.no-frames");
    if (empty) {
      empty.remove();
    }
    // The endpoint lists the newest first; insert the oldest first so the newest ends up on top.
    for (var i = frames.length - 1; i >= 0; i--) {
      if (!body.querySelector('tr[data-frame-id="' + frames[i].id + '"]')) {
        body.insertBefore(frameRow(frames[i]), body.firstChild);
      }
      lastFrame = Math.max(lastFrame, frames[i].id);
    }
    while (body.rows.length > MAX_FRAMES) {
      body.deleteRow(body.rows.length - 1);
    }
  }

  function poll() {
    var params = new URLSearchParams();
    if (withFrames) {
      params.set("since", String(lastFrame));
      if (root.dataset.frameAction) {
        params.set("frame_action", root.dataset.frameAction);
      }
      if (root.dataset.frameDirection) {
        params.set("frame_direction", root.dataset.frameDirection);
      }
    }
    fetch(url + "?" + params.toString(), {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (state) {
        if (!state) {
          return;
        }
        Object.keys(state.texts).forEach(function (key) {
          setText(key, state.texts[key]);
        });
        root.classList.toggle("station-offline", !state.connected);
        if (state.frames) {
          addFrames(state.frames);
        }
      })
      .catch(function () { /* a missed poll is retried at the next tick */ })
      .then(function () {
        window.setTimeout(poll, interval);
      });
  }

  window.setTimeout(poll, interval);
})();
