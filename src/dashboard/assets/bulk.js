// The task list's bulk actions: retry every failed task the current filter
// finds, revoke every waiting task of the task name chosen in the filter, and
// clean finished tasks older than a chosen age out of the history. Each asks
// first.
"use strict";
window.CeleriacBulk = (function () {
  const $ = (id) => document.getElementById(id);

  function init({ api, act, toast, filters, reload }) {
    $("bulk-retry").addEventListener("click", () => {
      const f = filters();
      const body = { search: f.search, name: f.name, worker: f.worker, since: f.since || undefined };
      if (!confirm("Send every failed task that the current filter finds again?")) return;
      void act(
        (r) => `${r.retried} failed task${r.retried === 1 ? "" : "s"} sent again${r.errors.length ? `, ${r.errors.length} could not be` : ""}`,
        () => api("/api/bulk/retry-failed", body),
        reload,
      );
    });
    $("bulk-revoke").addEventListener("click", () => {
      const name = filters().name;
      if (!name) return toast("Choose a task name in the filter first", true);
      if (!confirm(`Revoke every waiting ${name} task?`)) return;
      void act(
        (r) => `${r.revoked} waiting ${name} task${r.revoked === 1 ? "" : "s"} revoked`,
        () => api("/api/bulk/revoke-waiting", { task: name }),
        reload,
      );
    });
    $("bulk-clean").addEventListener("click", () => {
      const age = Number($("bulk-clean-age").value);
      const label = $("bulk-clean-age").selectedOptions[0].textContent;
      if (!confirm(`Remove finished tasks ${label} from the history?`)) return;
      void act(
        (r) => `${r.removed} finished task${r.removed === 1 ? "" : "s"} removed`,
        () => api("/api/bulk/clean", { olderThanSeconds: age }),
        reload,
      );
    });
  }
  return { init };
})();
