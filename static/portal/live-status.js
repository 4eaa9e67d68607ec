/* Portal overview and station list: every 10 s asks the status endpoint about the stations on the page and rewrites
 * only the status, connection and alarm cells whose text changed, so screen readers and selections are left alone. */
'use strict';
(function () {
  const root = document.querySelector('[data-live-status-url]');
  if (!root) {
    return;
  }
  const cells = Array.from(root.querySelectorAll('[data-cp][data-live]'));
  const ids = Array.from(new Set(cells.map((cell) => cell.dataset.cp)));
  if (ids.length === 0) {
    return;
  }
  const url = root.dataset.liveStatusUrl + '?ids=' + ids.join(',');
  const every = parseInt(root.dataset.liveStatusInterval, 10) || 10000;
  let waiting = false;

  function apply(stations) {
    for (const cell of cells) {
      const station = stations[cell.dataset.cp];
      if (!station || !(cell.dataset.live in station)) {
        continue;
      }
      const text = String(station[cell.dataset.live]);
      if (cell.textContent !== text) {
        cell.textContent = text;
      }
    }
  }

  async function refresh() {
    // No requests for a tab nobody looks at, and never two at once when the server is slow.
    if (waiting || document.hidden) {
      return;
    }
    waiting = true;
    try {
      const response = await fetch(url, {credentials: 'same-origin', headers: {Accept: 'application/json'}});
      if (response.ok) {
        apply((await response.json()).stations || {});
      }
    } catch (error) {
      // A dropped connection: keep the cells as they are and try at the next tick.
    } finally {
      waiting = false;
    }
  }

  window.setInterval(refresh, every);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) {
      refresh();
    }
  });
}());
