// The dashboard page: loads /api/overview and /api/tasks, then follows
// /api/stream (Server-Sent Events). Everything shown from the cluster goes
// through textContent: task arguments and results are untrusted text.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  let tasks = new Map(); // uuid -> summary, in the order shown
  let overview = null;
  let selected = null;
  const PAGE = 100;
  let offset = 0;
  let total = 0;

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return el;
  }
  const fmtTime = (ts) => (ts ? new Date(ts * 1000).toLocaleTimeString([], { hour12: false }) : "–");
  const fmtRuntime = (s) => (s === null || s === undefined ? "–" : s < 1 ? `${(s * 1000).toFixed(s < 0.01 ? 2 : 0)} ms` : `${s.toFixed(2)} s`);
  function toast(text, err) {
    const t = h("div", { class: `toast${err ? " err" : ""}`, role: "status" }, text);
    $("toasts").append(t);
    setTimeout(() => t.remove(), 3500);
  }
  async function api(path, body) {
    const res = await fetch(
      path,
      body === undefined
        ? { credentials: "same-origin" }
        : {
            method: "POST",
            credentials: "same-origin",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(body),
          },
    );
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.error || `${res.status} ${res.statusText}`);
    return data;
  }

  // ---- filters ------------------------------------------------------------------
  function filters() {
    const time = $("f-time").value;
    return {
      search: $("f-search").value.trim(),
      name: $("f-name").value,
      state: $("f-state").value,
      worker: $("f-worker").value,
      since: time ? Date.now() / 1000 - Number(time) : null,
    };
  }
  function matches(t, f) {
    if (f.name && t.name !== f.name) return false;
    if (f.state && t.state !== f.state) return false;
    if (f.worker && t.worker !== f.worker) return false;
    const at = t.timestamp || t.received || t.sent || 0;
    if (f.since && at < f.since) return false;
    if (f.search) {
      const hay = [t.uuid, t.name, t.args, t.kwargs, t.result, t.exception].filter(Boolean).join(" ").toLowerCase();
      if (!hay.includes(f.search.toLowerCase())) return false;
    }
    return true;
  }
  // One page of the history at a time; live updates fill in only the first page.
  async function loadTasks() {
    const f = filters();
    const q = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
    for (const [k, v] of Object.entries(f)) if (v) q.set(k, String(v));
    const data = await api(`/api/tasks?${q}`);
    tasks = new Map(data.tasks.map((t) => [t.uuid, t]));
    total = data.total;
    renderTasks();
  }
  let filterTimer = null;
  for (const id of ["f-search", "f-name", "f-state", "f-worker", "f-time"]) {
    $(id).addEventListener("input", () => {
      clearTimeout(filterTimer);
      offset = 0;
      filterTimer = setTimeout(() => loadTasks().catch((e) => toast(e.message, true)), 150);
    });
  }
  const turn = (delta) => {
    offset = Math.max(0, offset + delta * PAGE);
    loadTasks().catch((e) => toast(e.message, true));
  };
  $("p-prev").addEventListener("click", () => turn(-1));
  $("p-next").addEventListener("click", () => turn(1));
  $("filters").addEventListener("submit", (e) => e.preventDefault());

  function fillSelect(sel, values, label) {
    const current = sel.value;
    const have = [...sel.options].map((o) => o.value).slice(1);
    if (have.join("\n") === values.join("\n")) return;
    sel.replaceChildren(h("option", { value: "" }, label), ...values.map((v) => h("option", { value: v }, v)));
    sel.value = values.includes(current) ? current : "";
  }

  // ---- rendering ------------------------------------------------------------------
  function renderOverview(o) {
    overview = o;
    $("broker").textContent = o.broker;
    const s = o.summary;
    $("c-workers").textContent = `${s.workersOnline}`;
    $("c-rate").textContent = `${s.perMinute}`;
    $("c-running").textContent = `${s.byState.STARTED || 0}`;
    $("c-queued").textContent = `${o.queues.reduce((n, q) => n + (q.depth || 0), 0)}`;
    $("c-succeeded").textContent = `${s.byState.SUCCESS || 0}`;
    $("c-failed").textContent = `${s.byState.FAILURE || 0}`;

    window.CeleriacOps.renderWorkers(o);

    window.CeleriacOps.renderQueues(o);

    fillSelect($("f-name"), o.names, "All tasks");
    fillSelect(
      $("f-worker"),
      o.workers.map((w) => w.hostname),
      "Any worker",
    );
    drawThroughput(o.series);
    drawLatency(o.series);
  }

  // Celery's task-failed carries no runtime: the time from start to failure stands in for it.
  const runtimeOf = (t) => t.runtime ?? (t.state === "FAILURE" && t.started && t.timestamp ? Math.max(0, t.timestamp - t.started) : null);
  function stateBadge(state) {
    return h("span", { class: `badge ${state}` }, state);
  }
  // A click is a press and a release on one row: a list replaced between the
  // two (it is redrawn every second) would swallow it, so a redraw waits for the release.
  let pressed = false;
  let redrawAfterRelease = false;
  $("tasks").addEventListener("pointerdown", () => (pressed = true));
  window.addEventListener("pointerup", () => {
    pressed = false;
    if (redrawAfterRelease) setTimeout(renderTasks);
    redrawAfterRelease = false;
  });
  function renderTasks() {
    if (pressed) return void (redrawAfterRelease = true);
    const rows = [...tasks.values()].sort((a, b) => (b.timestamp || b.received || 0) - (a.timestamp || a.received || 0)).slice(0, PAGE);
    $("tasks").tBodies[0].replaceChildren(
      ...rows.map((t) =>
        h(
          "tr",
          {
            "data-testid": "task-row",
            "data-task-id": t.uuid,
            "data-state": t.state,
            class: selected === t.uuid ? "sel" : null,
            onclick: () => window.CeleriacTask.open(t.uuid),
          },
          h("td", {}, stateBadge(t.state)),
          h("td", {}, t.name || "?"),
          // The end of the id: ids from one producer share their beginning.
          h(
            "td",
            { class: "mono", title: t.uuid },
            h("a", { href: `/tasks/${encodeURIComponent(t.uuid)}`, onclick: (e) => e.preventDefault() }, `…${t.uuid.slice(-12)}`),
          ),
          h("td", { class: "mono clip", title: `${t.args || ""} ${t.kwargs || ""}` }, t.args || "", t.kwargs && t.kwargs !== "{}" ? ` ${t.kwargs}` : ""),
          h("td", { class: "mono clip", title: t.exception || t.result || "" }, t.exception || t.result || ""),
          h("td", { class: "muted" }, t.worker || "–"),
          h("td", { class: "muted" }, fmtTime(t.received || t.sent)),
          h("td", { class: "num" }, fmtRuntime(runtimeOf(t))),
        ),
      ),
    );
    $("tasks-empty").hidden = rows.length > 0;
    $("p-info").textContent = total ? `${offset + 1}–${Math.min(total, offset + rows.length)} of ${total}` : "";
    $("p-prev").disabled = offset === 0;
    $("p-next").disabled = offset + PAGE >= total;
  }

  // ---- charts (inline SVG) -------------------------------------------------------
  function svg(tag, attrs) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    return el;
  }
  function frame(box, points, maxY, fmt) {
    const W = box.clientWidth || 600,
      H = box.clientHeight || 170,
      L = 44,
      B = 18,
      T = 8;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img" });
    for (let i = 0; i <= 3; i++) {
      const y = T + ((H - B - T) * i) / 3;
      root.append(svg("line", { x1: L, x2: W, y1: y, y2: y, class: "axis" }));
      const label = svg("text", { x: L - 6, y: y + 3, "text-anchor": "end" });
      label.textContent = fmt((maxY * (3 - i)) / 3);
      root.append(label);
    }
    const step = (W - L) / Math.max(1, points.length);
    // One time label per 80 px at most (a label is about 55 px wide): on a phone they would overlap at six.
    const labels = Math.max(2, Math.min(6, Math.floor((W - L) / 80)));
    for (let i = 0; i < points.length; i += Math.ceil(points.length / labels)) {
      const label = svg("text", { x: L + i * step, y: H - 4 });
      label.textContent = new Date(points[i].t * 1000).toLocaleTimeString([], { hour12: false, hour: "2-digit", minute: "2-digit", second: "2-digit" });
      root.append(label);
    }
    return { root, W, H, L, B, T, step, y: (v) => T + (H - B - T) * (1 - v / maxY) };
  }
  function drawThroughput(series) {
    const box = $("chart-throughput");
    const pts = series.points;
    // A multiple of 3, so the three grid lines fall on whole numbers.
    const maxY = Math.ceil(Math.max(3, ...pts.map((p) => p.succeeded + p.failed)) / 3) * 3;
    const f = frame(box, pts, maxY, (v) => String(Math.round(v)));
    pts.forEach((p, i) => {
      const x = f.L + i * f.step + 1,
        w = Math.max(1, f.step - 2);
      const ys = f.y(p.succeeded),
        yf = f.y(p.succeeded + p.failed);
      if (p.succeeded) f.root.append(svg("rect", { x, y: ys, width: w, height: f.H - f.B - ys, class: "ok", rx: 1 }));
      if (p.failed) f.root.append(svg("rect", { x, y: yf, width: w, height: ys - yf, class: "bad", rx: 1 }));
    });
    const title = svg("title", {});
    title.textContent = `tasks finished per ${series.bucketSeconds} s`;
    f.root.append(title);
    box.replaceChildren(f.root);
  }
  function drawLatency(series) {
    const box = $("chart-latency");
    const pts = series.points;
    const maxY = Math.max(0.001, ...pts.map((p) => p.p95Runtime || 0)) * 1.15;
    const f = frame(box, pts, maxY, (v) =>
      v === 0 ? "0" : v < 0.001 ? `${Math.round(v * 1e6)}µs` : v < 1 ? `${+(v * 1000).toPrecision(2)}ms` : `${+v.toPrecision(2)}s`,
    );
    for (const [key, cls] of [
      ["avgRuntime", "avg"],
      ["p95Runtime", "p95"],
    ]) {
      let d = "";
      pts.forEach((p, i) => {
        if (p[key] === null) return;
        d += `${d ? "L" : "M"}${(f.L + i * f.step + f.step / 2).toFixed(1)},${f.y(p[key]).toFixed(1)}`;
      });
      if (d) f.root.append(svg("path", { d, class: `line ${cls}` }));
    }
    box.replaceChildren(f.root);
  }

  // ---- live updates ------------------------------------------------------------------
  function connect() {
    const es = new EventSource("/api/stream");
    es.addEventListener("open", () => {
      $("live").className = "live on";
      $("live").querySelector("b").textContent = "live";
    });
    es.addEventListener("error", () => {
      $("live").className = "live off";
      $("live").querySelector("b").textContent = "reconnecting";
    });
    es.addEventListener("update", (ev) => {
      const data = JSON.parse(ev.data);
      renderOverview(data);
      if (data.tasks.length) {
        const f = filters();
        for (const t of data.tasks) {
          if (!tasks.has(t.uuid) && !matches(t, f)) continue;
          if (!tasks.has(t.uuid) && offset > 0) continue; // a new task belongs to the first page
          if (!tasks.has(t.uuid)) total++;
          if (matches(t, f)) tasks.set(t.uuid, t);
          else tasks.delete(t.uuid);
        }
        renderTasks();
        if (selected && data.tasks.some((t) => t.uuid === selected)) window.CeleriacTask.open(selected, { quiet: true });
      }
    });
  }
  window.CeleriacTask.init({
    h,
    api,
    toast,
    fmtTime,
    fmtRuntime,
    runtimeOf,
    onSelect: (id) => {
      selected = id;
      renderTasks();
    },
  });
  window.CeleriacOps.init({ h, api, toast });
  const { act, every, when } = window.CeleriacOps;
  window.CeleriacBeat.init({ h, api, toast, act, every, when });
  window.CeleriacBulk.init({ api, act, toast, filters, reload: () => loadTasks() });
  Promise.all([api("/api/overview").then(renderOverview), loadTasks()])
    .catch((e) => toast(e.message, true))
    .finally(connect);
  window.addEventListener("resize", () => overview && (drawThroughput(overview.series), drawLatency(overview.series)));
})();
