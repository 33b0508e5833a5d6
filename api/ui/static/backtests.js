// Back-test page: follow a queued or running job once a second; reload into its report
// when it is done (or failed). Without scripts, the page's "Refresh" link does the same.
const bar = document.getElementById("job-progress");
const text = document.getElementById("progress-text");
const state = document.getElementById("job-state");
const heading = document.getElementById("progress-head");

async function poll(url) {
  let answer;
  try {
    answer = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
  } catch {
    return true; // the service is away for a moment: try again
  }
  if (!answer.ok) return false;
  const job = await answer.json();
  if (state) state.textContent = job.state;
  if (heading && job.state === "running") heading.textContent = heading.dataset.running;
  if (job.state === "done" || job.state === "failed") {
    window.location.reload();
    return false;
  }
  if (job.fraction_done !== null) bar.value = job.fraction_done;
  const done = job.records_done.toLocaleString("en");
  const share = job.fraction_done !== null ? ` · ${Math.round(job.fraction_done * 100)}% done` : "";
  text.textContent = `${done} records screened${share}`;
  return true;
}

if (bar) {
  const url = bar.dataset.progressUrl;
  const tick = async () => {
    if (await poll(url)) window.setTimeout(tick, 1000);
  };
  window.setTimeout(tick, 1000);
}
