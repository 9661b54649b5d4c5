// The dashboard's operations panels: workers and their actions, queues with
// their depth over time and actions, and scheduled tasks waiting for their ETA. Each panel reads its own API route
// every few seconds and after each action; destructive actions ask first.
// Everything from the cluster goes through textContent: it is untrusted text.
"use strict";
window.CeleriacOps = (function () {
  const $ = (id) => document.getElementById(id);
  let ui = null; // { h, api, toast }
  const REFRESH_MS = 2000;

  const when = (ts) => (ts ? new Date(ts * 1000).toLocaleString([], { hour12: false }) : "never");
  /** Runs an action, says how it went, then reads the panel again. */
  async function act(what, call, reload) {
    try {
      const r = await call();
      ui.toast(typeof what === "function" ? what(r) : what);
    } catch (e) {
      ui.toast(e.message, true);
    }
    await reload();
  }
  /** Reads a panel now, then every REFRESH_MS. */
  function every(load) {
    const again = () => load().finally(() => setTimeout(again, REFRESH_MS));
    void again();
  }

  // ---- scheduled tasks ----------------------------------------------------------
  let scheduledCounts = new Map(); // queue -> tasks waiting for their ETA
  let lastOverview = null;
  async function loadScheduled() {
    const { h, api } = ui;
    const data = await api("/api/scheduled").catch((e) => ({ supported: false, reason: e.message, queues: [] }));
    $("scheduled-unsupported").hidden = data.supported;
    $("scheduled-unsupported").textContent = data.supported ? "" : data.reason;
    scheduledCounts = new Map(data.queues.map((q) => [q.name, q.total]));
    const rows = data.queues.flatMap((q) => q.tasks.map((t) => ({ queue: q.name, ...t })));
    const run = (t, action, what) =>
      act(what, () => api(`/api/scheduled/${encodeURIComponent(t.queue)}/${encodeURIComponent(t.id)}/${action}`, {}), loadScheduled);
    $("scheduled").tBodies[0].replaceChildren(
      ...rows.map((t) =>
        h(
          "tr",
          { "data-testid": "scheduled-row", "data-task-id": t.id, "data-queue": t.queue },
          h("td", { class: "mono" }, t.queue),
          h("td", {}, t.task || "?"),
          h("td", { class: "mono", title: t.id }, h("a", { href: `/tasks/${encodeURIComponent(t.id)}` }, `…${String(t.id).slice(-12)}`)),
          h("td", { class: "mono clip" }, t.args || "", t.kwargs && t.kwargs !== "{}" ? ` ${t.kwargs}` : ""),
          h("td", { class: "muted" }, when(t.eta)),
          h(
            "td",
            { class: "row-actions" },
            h("button", { class: "mini", "data-testid": "scheduled-run", onclick: () => run(t, "run", `${t.task} runs now`) }, "Run now"),
            h(
              "button",
              {
                class: "mini",
                "data-testid": "scheduled-revoke",
                onclick: () => confirm(`Revoke ${t.task} ${t.id}?`) && run(t, "revoke", `${t.task} revoked`),
              },
              "Revoke",
            ),
          ),
        ),
      ),
    );
    $("scheduled-empty").hidden = rows.length > 0 || !data.supported;
    if (lastOverview) renderQueues(lastOverview);
  }

  // ---- queues ---------------------------------------------------------------------
  const SVG = "http://www.w3.org/2000/svg";
  /** The queue's depth at each refresh, as a small line. */
  function sparkline(history) {
    const W = 90,
      H = 20;
    const el = document.createElementNS(SVG, "svg");
    el.setAttribute("viewBox", `0 0 ${W} ${H}`);
    el.setAttribute("class", "spark");
    el.setAttribute("data-testid", "queue-spark");
    if (history.length > 1) {
      const max = Math.max(1, ...history.map((p) => p[1]));
      const line = document.createElementNS(SVG, "polyline");
      const pts = history.map((p, i) => `${((i / (history.length - 1)) * W).toFixed(1)},${(H - 1 - (p[1] / max) * (H - 2)).toFixed(1)}`);
      line.setAttribute("points", pts.join(" "));
      el.append(line);
    }
    const title = document.createElementNS(SVG, "title");
    title.textContent = history.length ? `depth now ${history[history.length - 1][1]}, at most ${Math.max(...history.map((p) => p[1]))}` : "no samples yet";
    el.append(title);
    return el;
  }
  function renderQueues(o) {
    const { h, api } = ui;
    lastOverview = o;
    const online = o.workers.some((w) => w.online);
    const queueAction = (q, action, what) =>
      act(
        what,
        () => api(`/api/queues/${encodeURIComponent(q.name)}/${action}`, {}),
        async () => {},
      );
    const max = Math.max(1, ...o.queues.map((q) => q.depth || 0));
    $("queues").tBodies[0].replaceChildren(
      ...o.queues.map((q) => {
        // Paused: workers are up, and none consumes it.
        const paused = online && q.consumers === 0;
        return h(
          "tr",
          { "data-testid": "queue-row", "data-queue": q.name, "data-paused": String(paused) },
          h("td", { class: "mono" }, q.name),
          h("td", { class: "num", "data-testid": "queue-depth" }, h("span", { class: "bar" }), q.depth ?? "–"),
          h("td", {}, sparkline(q.history || [])),
          h("td", { class: "num", "data-testid": "queue-scheduled" }, scheduledCounts.has(q.name) ? scheduledCounts.get(q.name) : "–"),
          h("td", { class: "num" }, q.consumers, paused ? " (paused)" : ""),
          h(
            "td",
            { class: "row-actions" },
            online
              ? h(
                  "button",
                  {
                    class: "mini",
                    "data-testid": paused ? "queue-resume" : "queue-pause",
                    onclick: () => queueAction(q, paused ? "resume" : "pause", `${q.name}: ${paused ? "resumed" : "paused"} on every worker`),
                  },
                  paused ? "Resume" : "Pause",
                )
              : null,
            h(
              "button",
              {
                class: "mini",
                "data-testid": "queue-purge",
                onclick: () =>
                  confirm(`Purge ${q.name}? Every task waiting in it is deleted.`) &&
                  act(
                    (r) => `${q.name}: ${r.purged} purged`,
                    () => api(`/api/queues/${encodeURIComponent(q.name)}/purge`, {}),
                    loadScheduled,
                  ),
              },
              "Purge",
            ),
          ),
        );
      }),
    );
    // Bar widths are set through the CSSOM: the page's CSP allows no inline style attributes.
    [...$("queues").tBodies[0].rows].forEach((row, i) => {
      row.querySelector(".bar").style.width = `${Math.round(((o.queues[i].depth || 0) / max) * 60)}px`;
    });
  }

  // ---- workers ----------------------------------------------------------------------
  const ago = (ts) => {
    if (!ts) return "–";
    const s = Math.max(0, Date.now() / 1000 - ts);
    return s < 60 ? `${Math.round(s)} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
  };
  const workerPath = (host, action) => `/api/workers/${encodeURIComponent(host)}/${action}`;
  function renderWorkers(o) {
    const { h, api } = ui;
    const post = (w, action, body, what) =>
      act(
        what,
        () => api(workerPath(w.hostname, action), body),
        async () => {},
      );
    const consumers = (w, action, queue) =>
      post(w, "consumers", { queue, action }, `${w.hostname}: ${action === "add" ? "now consuming" : "no longer consuming"} ${queue}`);
    const button = (testid, title, label, onclick) => h("button", { class: "mini", title, "data-testid": testid, onclick }, label);
    $("workers").tBodies[0].replaceChildren(
      ...o.workers.map((w) =>
        h(
          "tr",
          { "data-testid": "worker-row", "data-hostname": w.hostname, "data-online": String(w.online) },
          h(
            "td",
            {},
            h("span", { class: `dot${w.online ? " on" : ""}`, title: w.online ? "online" : "offline" }),
            h("b", {}, w.hostname),
            h("div", { class: "muted" }, w.online ? "online" : "offline", w.sw ? ` · ${w.sw}` : ""),
          ),
          h(
            "td",
            { class: "pool" },
            w.concurrency ? `${w.pool || "pool"} × ${w.concurrency}` : w.pool || "–",
            w.online && w.concurrency
              ? h(
                  "span",
                  { class: "resize" },
                  button("pool-shrink", "Shrink the pool by one", "−", () => post(w, "pool", { delta: -1 }, (r) => `${w.hostname}: pool size ${r.size}`)),
                  button("pool-grow", "Grow the pool by one", "+", () => post(w, "pool", { delta: 1 }, (r) => `${w.hostname}: pool size ${r.size}`)),
                )
              : null,
            w.autoscale ? h("div", { class: "muted", "data-testid": "worker-autoscale" }, `autoscale ${w.autoscale.min}–${w.autoscale.max}`) : null,
          ),
          h("td", { class: "num" }, w.active ?? "–"),
          h("td", { class: "num" }, w.processed ?? "–"),
          h("td", {}, w.prefetchLimit ? `${w.prefetched ?? 0} / ${w.prefetchLimit}` : "–"),
          h("td", { class: "mono" }, (w.loadavg || []).map((l) => l.toFixed(2)).join(" ") || "–"),
          h(
            "td",
            {},
            (w.queues || []).map((q) =>
              h(
                "span",
                { class: "chip", "data-testid": "worker-queue", "data-queue": q },
                q,
                w.online
                  ? h(
                      "button",
                      { class: "chip-x", title: `Stop consuming ${q}`, "data-testid": "consumer-cancel", onclick: () => consumers(w, "cancel", q) },
                      "×",
                    )
                  : null,
              ),
            ),
            w.online
              ? button("consumer-add", "Consume another queue", "+ queue", () => {
                  const q = (prompt(`Queue for ${w.hostname} to consume:`) || "").trim();
                  if (q) void consumers(w, "add", q);
                })
              : null,
          ),
          h("td", { class: "muted" }, ago(w.lastHeartbeat)),
          h(
            "td",
            { class: "row-actions" },
            w.online
              ? [
                  button("pool-restart", "Replace every pool child (they load the app afresh)", "Restart pool", () =>
                    post(w, "pool-restart", {}, (r) => `${w.hostname}: restarting ${r.restarted} pool children`),
                  ),
                  w.autoscale
                    ? button("worker-autoscale-set", "Change the pool's autoscale bounds", "Autoscale…", () => {
                        const text = prompt(`Autoscale bounds for ${w.hostname}, as MAX,MIN:`, `${w.autoscale.max},${w.autoscale.min}`);
                        const m = /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(text || "");
                        if (text && !m) return ui.toast("Write the bounds as MAX,MIN, e.g. 4,1", true);
                        if (m) void post(w, "autoscale", { max: Number(m[1]), min: Number(m[2]) }, (r) => `${w.hostname}: autoscale ${r.min}–${r.max}`);
                      })
                    : null,
                  button(
                    "worker-shutdown",
                    "Stop this worker",
                    "Shut down",
                    () => confirm(`Shut down ${w.hostname}?`) && post(w, "shutdown", {}, `${w.hostname}: shutdown sent`),
                  ),
                ]
              : null,
          ),
        ),
      ),
    );
    $("workers-empty").hidden = o.workers.length > 0;
  }

  function init(helpers) {
    ui = helpers;
    every(loadScheduled);
  }
  return { init, renderQueues, renderWorkers, act, every, when };
})();
