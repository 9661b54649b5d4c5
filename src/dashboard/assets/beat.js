// The dashboard's periodic tasks panel (beat): the entries with their
// schedule, last and next run and the last run's state; add, edit,
// enable/disable, remove (after asking) and run now. Everything from the
// cluster goes through textContent: it is untrusted text.
"use strict";
window.CeleriacBeat = (function () {
  const $ = (id) => document.getElementById(id);
  let ui = null; // { h, api, toast } and CeleriacOps' act, when
  // ---- periodic tasks ----------------------------------------------------------
  const entryPath = (name, action) => `/api/beat/entries/${encodeURIComponent(name)}/${action}`;
  function beatRow(e) {
    const { h, api, act, when } = ui;
    const run = (action, what) => act(what, () => api(entryPath(e.name, action), {}), loadBeat);
    return h(
      "tr",
      { "data-testid": "beat-row", "data-name": e.name, "data-enabled": String(e.enabled), class: e.enabled ? null : "disabled" },
      h("td", {}, h("b", {}, e.name), h("div", { class: "muted" }, e.source === "settings" ? "app settings" : "store")),
      h("td", { class: "mono" }, e.task, e.args.length ? ` ${JSON.stringify(e.args)}` : ""),
      h("td", {}, e.schedule, e.enabled ? "" : " (disabled)"),
      h(
        "td",
        { class: "muted", "data-testid": "beat-last" },
        when(e.lastRun),
        e.lastTask ? h("div", {}, h("a", { href: `/tasks/${encodeURIComponent(e.lastTask.id)}`, "data-testid": "beat-last-task" }, e.lastTask.state)) : null,
      ),
      h("td", { class: "muted", "data-testid": "beat-next" }, e.enabled ? when(e.nextRun) : "–"),
      h(
        "td",
        { class: "row-actions" },
        h("button", { class: "mini", "data-testid": "beat-run", onclick: () => run("run", (r) => `${e.name} sent as ${r.id}`) }, "Run now"),
        h(
          "button",
          {
            class: "mini",
            "data-testid": "beat-toggle",
            onclick: () => run(e.enabled ? "disable" : "enable", `${e.name} ${e.enabled ? "disabled" : "enabled"}`),
          },
          e.enabled ? "Disable" : "Enable",
        ),
        h("button", { class: "mini", "data-testid": "beat-edit", onclick: () => editEntry(e) }, "Edit"),
        e.source === "store"
          ? h(
              "button",
              {
                class: "mini",
                "data-testid": "beat-remove",
                onclick: () => confirm(`Remove the periodic task ${e.name}?`) && run("remove", `${e.name} removed`),
              },
              "Remove",
            )
          : null,
      ),
    );
  }
  function editEntry(e) {
    $("b-name").value = e.name;
    $("b-task").value = e.task;
    $("b-schedule").value = "every" in e.spec ? `every ${e.spec.every}s` : e.spec.cron;
    $("b-args").value = JSON.stringify(e.args);
    $("b-queue").value = e.options.queue || "";
    $("b-task").focus();
  }
  async function loadBeat() {
    const data = await ui.api("/api/beat").catch((e) => ({ available: false, error: e.message, entries: [] }));
    $("beat-leader").textContent = !data.available ? data.error : data.leader ? `leader: ${data.leader.holder}` : "no beat running";
    $("beat").tBodies[0].replaceChildren(...data.entries.map(beatRow));
    $("beat-empty").hidden = data.entries.length > 0;
    $("beat-form").hidden = !data.available;
  }
  function saveEntry(ev) {
    ev.preventDefault();
    let args;
    try {
      args = $("b-args").value.trim() ? JSON.parse($("b-args").value) : [];
    } catch {
      return ui.toast("Arguments must be JSON, e.g. [1, 2]", true);
    }
    const body = { name: $("b-name").value.trim(), task: $("b-task").value.trim(), schedule: $("b-schedule").value.trim(), args, queue: $("b-queue").value };
    void ui.act(
      (r) => `${r.name} saved: ${r.schedule}`,
      () => ui.api("/api/beat/entries", body),
      loadBeat,
    );
  }

  function init(helpers) {
    ui = helpers;
    $("beat-form").addEventListener("submit", saveEntry);
    ui.every(loadBeat);
  }
  return { init };
})();
