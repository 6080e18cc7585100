// Ferry store browser: the only script, for the health page. While an admin job runs it polls
// /ui/admin/job and updates the progress bar; when the job ends it reloads the page to show the result.
(function () {
  'use strict';
  var job = document.getElementById('job');
  if (!job || job.getAttribute('data-state') !== 'running') {
    return;
  }
  function text(id, value) {
    var el = document.getElementById(id);
    if (el) { el.textContent = value; }
  }
  function poll() {
    fetch('/ui/admin/job', { credentials: 'same-origin', headers: { 'Accept': 'application/json' } })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        text('job-state', s.state);
        text('job-phase', s.phase || '');
        var bar = document.getElementById('job-progress');
        if (bar && s.total > 0) { bar.max = s.total; bar.value = s.done; }
        if (s.state === 'running') { setTimeout(poll, 500); } else { window.location.reload(); }
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 300);
})();
