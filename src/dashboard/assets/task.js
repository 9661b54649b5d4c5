// The dashboard's task detail (the drawer, and the page at /tasks/<id>):
// arguments and result as JSON, retry attempts, progress, logs, parent and
// children, one traceback, and the actions. While the task is not finished it
// is read again every second, so its progress bar moves. Everything from the
// cluster goes through textContent: it is untrusted text.
"use strict";
window.CeleriacTask = (function () {
  const $ = (id) => document.getElementById(id);
  let ui = null; // { h, api, toast, fmtTime, fmtRuntime, runtimeOf, onSelect }
  let selected = null;
  let refreshTimer = null;
  const READY = ["SUCCESS", "FAILURE", "REVOKED"];
  const progressSeen = new Map(); // task id -> its latest progress seen on this page

  const pretty = (v) => (v === undefined ? "–" : JSON.stringify(v, null, 2));

  function renderProgress(p) {
    $("d-progress-wrap").hidden = !p;
    if (!p) return;
    const percent = p.total > 0 ? Math.min(100, Math.round((100 * p.current) / p.total)) : 0;
    $("d-progress").setAttribute("aria-valuenow", String(percent));
    // Through the CSSOM: the page's CSP allows no inline style attributes.
    $("d-progress-fill").style.width = `${percent}%`;
    $("d-progress-text").textContent = `${p.current} / ${p.total} (${percent} %)`;
  }

  function render(id, d) {
    const { h, fmtTime, fmtRuntime, runtimeOf } = ui;
    const t = d.task || {};
    const r = d.result;
    const state = (r && r.status && !["PENDING"].includes(r.status) ? r.status : null) || t.state || "PENDING";
    $("d-state").className = `badge ${state}`;
    $("d-state").textContent = state;
    $("d-name").textContent = t.name || (r && r.name) || "task";
    $("d-page").setAttribute("href", `/tasks/${encodeURIComponent(id)}`);
    const link = (x) =>
      x ? h("a", { onclick: () => open(x.uuid), "data-task-link": x.uuid }, `${x.name || "task"} ${x.uuid}`, x.state ? ` (${x.state})` : "") : "–";
    const rows = [
      ["ID", h("span", { class: "mono" }, id)],
      ["Worker", t.worker || "–"],
      ["Sent", fmtTime(t.sent)],
      ["Received", fmtTime(t.received)],
      ["Started", fmtTime(t.started)],
      ["Finished", fmtTime(t.succeeded || t.failed || t.revoked) + (r && r.date_done ? ` (${r.date_done})` : "")],
      ["Runtime", fmtRuntime(runtimeOf(t))],
      ["Retries", t.retries ?? "–"],
      ["ETA", t.eta || "–"],
      ["Expires", t.expires || "–"],
      ["Parent", link(d.parent)],
      ["Root", link(d.root)],
      ["Children", d.children.length ? d.children.map((c) => h("div", {}, link(c))) : "–"],
    ];
    $("d-fields").replaceChildren(...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
    $("d-args").textContent = d.args !== null ? JSON.stringify(d.args, null, 2) : t.args || "–";
    $("d-kwargs").textContent = d.kwargs !== null ? JSON.stringify(d.kwargs, null, 2) : t.kwargs || "–";
    // A custom state's meta is its progress, not its result.
    $("d-result").textContent = r && READY.includes(r.status) ? pretty(r.result) : t.result || "–";
    // Once it succeeded a task's progress is complete: its last PROGRESS was replaced by SUCCESS.
    if (d.progress && typeof d.progress.current === "number") progressSeen.set(id, d.progress);
    const seen = progressSeen.get(id);
    renderProgress(state === "SUCCESS" && seen ? { current: seen.total, total: seen.total } : state === "SUCCESS" ? null : (seen ?? null));
    $("d-attempts-wrap").hidden = !d.attempts.length;
    $("d-attempts").replaceChildren(
      ...d.attempts.map((a, i) => h("li", {}, h("b", {}, `Attempt ${i + 1}`), ` ${fmtTime(a.time)} · `, a.exception || "retried")),
    );
    $("d-logs-wrap").hidden = !d.logs.length;
    $("d-logs").replaceChildren(
      ...d.logs.map((l) =>
        h("div", { class: `log ${l.level}` }, h("span", { class: "muted" }, `${l.time.slice(11, 23)} ${l.level.toUpperCase()} `), l.message),
      ),
    );
    $("d-tb-wrap").hidden = !d.traceback;
    $("d-traceback").textContent = d.traceback || "";
    $("d-rl-name").textContent = t.name || "";
    const done = READY.includes(state);
    $("d-revoke").disabled = done;
    $("d-terminate").disabled = done;
    $("drawer").hidden = false;
    clearTimeout(refreshTimer);
    if (!done) refreshTimer = setTimeout(() => selected === id && open(id, { quiet: true }), 1000);
  }

  async function open(id, opts = {}) {
    if (selected !== id) {
      selected = id;
      ui.onSelect(id);
      if (!opts.fromAddress && location.pathname !== `/tasks/${id}`) history.pushState({ task: id }, "", `/tasks/${encodeURIComponent(id)}`);
    }
    let d;
    try {
      d = await ui.api(`/api/tasks/${encodeURIComponent(id)}`);
    } catch (e) {
      if (!opts.quiet) ui.toast(e.message, true);
      // Not known yet (just sent, no event so far): asked again while it is the one shown.
      clearTimeout(refreshTimer);
      if (selected === id) refreshTimer = setTimeout(() => selected === id && open(id, { quiet: true }), 1000);
      return;
    }
    if (selected === id) render(id, d);
  }

  function close() {
    clearTimeout(refreshTimer);
    $("drawer").hidden = true;
    selected = null;
    ui.onSelect(null);
    if (location.pathname !== "/") history.pushState({}, "", "/");
  }

  async function act(what, fn) {
    try {
      await fn();
      ui.toast(what);
      if (selected) setTimeout(() => selected && open(selected, { quiet: true }), 800);
    } catch (e) {
      ui.toast(`${what} failed: ${e.message}`, true);
    }
  }

  function init(deps) {
    ui = deps;
    $("d-close").addEventListener("click", close);
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && selected) close();
    });
    $("d-revoke").addEventListener("click", () => act("Revoke sent", () => ui.api(`/api/tasks/${selected}/revoke`, { terminate: false })));
    $("d-terminate").addEventListener("click", () => act("Terminate sent", () => ui.api(`/api/tasks/${selected}/revoke`, { terminate: true })));
    $("d-retry").addEventListener("click", async () => {
      try {
        const r = await ui.api(`/api/tasks/${selected}/retry`, {});
        ui.toast(`Sent again as ${r.id}`);
        open(r.id);
      } catch (e) {
        ui.toast(`Retry failed: ${e.message}`, true);
      }
    });
    $("d-ratelimit").addEventListener("submit", (e) => {
      e.preventDefault();
      const name = $("d-rl-name").textContent;
      const rate = $("d-rate").value.trim();
      act(rate ? `Rate limit of ${name} set to ${rate}` : `Rate limit of ${name} removed`, () => ui.api("/api/rate-limit", { task: name, rate }));
    });
    // The address names the task: open it on load, and follow back/forward.
    const fromAddress = () => {
      const m = /^\/tasks\/([^/]+)$/.exec(location.pathname);
      if (m) open(decodeURIComponent(m[1]), { fromAddress: true });
      else if (selected) {
        clearTimeout(refreshTimer);
        $("drawer").hidden = true;
        selected = null;
        ui.onSelect(null);
      }
    };
    window.addEventListener("popstate", fromAddress);
    fromAddress();
  }

  return { init, open, selected: () => selected };
})();
