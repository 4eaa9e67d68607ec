/* The station list: keeps the network, status and open-alarm cells of the rows on the page up to date by polling
 * the live-status endpoint, changing only text that differs (no reload, no flicker), and applies the owner filter
 * chosen in its autocomplete search box. */
'use strict';
{
    const root = document.querySelector('[data-live-status-url]');

    function liveCells() {
        return document.querySelectorAll('#result_list .station-live[data-cp][data-live]');
    }

    function update(stations) {
        for (const cell of liveCells()) {
            const station = stations[cell.dataset.cp];
            if (!station || !(cell.dataset.live in station)) {
                continue;
            }
            const text = String(station[cell.dataset.live]);
            if (cell.textContent !== text) {
                cell.textContent = text;
            }
            if (cell.dataset.live === 'network') {
                const state = station.connected ? 'connected' : 'offline';
                if (cell.dataset.state !== state) {
                    cell.dataset.state = state;
                }
            }
        }
    }

    function startPolling() {
        const ids = [...new Set([...liveCells()].map((cell) => cell.dataset.cp))];
        if (!root || ids.length === 0) {
            return;
        }
        const url = root.dataset.liveStatusUrl + '?ids=' + ids.join(',');
        const interval = parseInt(root.dataset.liveStatusInterval, 10) || 5000;
        let busy = false;

        async function poll() {
            // A hidden tab does not need fresh figures; a slow answer must not pile up requests.
            if (busy || document.hidden) {
                return;
            }
            busy = true;
            try {
                const response = await fetch(url, {credentials: 'same-origin', headers: {Accept: 'application/json'}});
                if (response.ok) {
                    update((await response.json()).stations);
                }
            } catch (error) {
                // The network went away for a moment: keep what is shown and try again at the next tick.
            } finally {
                busy = false;
            }
        }

        window.setInterval(poll, interval);
        document.addEventListener('visibilitychange', () => {
            if (!document.hidden) {
                poll();
            }
        });
    }

    function applyFilter(select) {
        const params = new URLSearchParams(window.location.search);
        if (select.value) {
            params.set(select.dataset.filterParam, select.value);
        } else {
            params.delete(select.dataset.filterParam);
        }
        // A page number or a site of the previous owner would not fit the new choice.
        params.delete('p');
        for (const name of (select.dataset.filterClears || '').split(' ').filter(Boolean)) {
            params.delete(name);
        }
        window.location.search = params.toString();
    }

    function watchFilters() {
        for (const select of document.querySelectorAll('#changelist-filter select[data-filter-param]')) {
            // Select2 announces a choice through jQuery's event system, which native listeners do not hear.
            if (window.django && window.django.jQuery) {
                window.django.jQuery(select).on('change', () => applyFilter(select));
            } else {
                select.addEventListener('change', () => applyFilter(select));
            }
        }
    }

    function start() {
        startPolling();
        watchFilters();
    }

    if (document.readyState === 'loading') {
        document.addEventListener('DOMContentLoaded', start);
    } else {
        start();
    }
}
