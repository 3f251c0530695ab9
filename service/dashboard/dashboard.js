// The InstructForge dashboard: reads /v1 and draws with plotly.js (served from the installed plotly package).
// Data is written with textContent only: dataset names, reasons and verbs are user or model text.
"use strict";

const KEY_ITEM = "instructforge.apiKey";
const ACTIVE = new Set(["queued", "running"]);
const FAST_POLL_MS = 1000;
const SLOW_POLL_MS = 3000;
const MAX_PAGES = 10; // pages (of the service's default page size) read per list, oldest first
const RECENT_FINISHED = 10; // finished jobs shown beside the active ones
const PLOT_CONFIG = { displaylogo: false, responsive: true };
const state = { dataset: null, jobs: new Map(), timer: null, generation: 0 };

class Unauthorized extends Error {}

function apiKey() {
  return sessionStorage.getItem(KEY_ITEM);
}

async function fetchApi(path) {
  const key = apiKey();
  const response = await fetch(path, { headers: key ? { "X-API-Key": key } : {} });
  if (response.status === 401) {
    askForKey(key ? "that key was refused" : "this service needs an API key");
    throw new Unauthorized(path);
  }
  if (!response.ok) {
    throw new Error(`${path}: ${response.status}`);
  }
  return response;
}

async function api(path) {
  return (await fetchApi(path)).json();
}

function setStatus(text, isError = false) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function askForKey(why) {
  setStatus(why, true);
  document.getElementById("key-form").hidden = false;
  document.getElementById("api-key").focus();
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
  return td;
}

function replaceRows(tableId, rows) {
  document.querySelector(`#${tableId} tbody`).replaceChildren(...rows);
}

async function pages(path) {
  const found = [];
  let cursor = null;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const { items, next } = await api(cursor ? `${path}?cursor=${encodeURIComponent(cursor)}` : path);
    found.push(...items);
    if (!next) {
      break;
    }
    cursor = next;
  }
  return found;
}

// ---- datasets ----

async function loadDatasets() {
  const items = await pages("/v1/datasets");
  replaceRows("datasets", items.map((dataset) => {
    const row = document.createElement("tr");
    row.dataset.datasetId = dataset.id;
    row.classList.toggle("selected", dataset.id === state.dataset);
    [dataset.name, dataset.id, dataset.tasks, dataset.instances].forEach((value) => cell(row, String(value)));
    row.addEventListener("click", () => selectDataset(dataset.id).catch(report));
    return row;
  }));
  const wanted = location.hash.slice(1);
  const chosen = items.find((d) => d.id === wanted) || items[0];
  if (chosen && state.dataset === null) {
    await selectDataset(chosen.id);
  }
}

async function selectDataset(id) {
  state.dataset = id;
  history.replaceState(null, "", `#${id}`);
  document.querySelectorAll("#datasets tbody tr").forEach((row) => {
    row.classList.toggle("selected", row.dataset.datasetId === id);
  });
  await loadDataset(id);
}

// Imported instructions wait for an annotate job: say how many, and from which sources.
function unansweredBySource(stats) {
  return Object.entries(stats.sources).filter(([, c]) => c.unanswered > 0).map(([s, c]) => `${s} ${c.unanswered}`)
    .join(", ");
}

async function loadDataset(id) {
  const base = `/v1/datasets/${encodeURIComponent(id)}`;
  const [dataset, stats, composition, snapshots] = await Promise.all([
    api(base), api(`${base}/stats?balance=false`), api(`${base}/composition`), api(`${base}/snapshots`),
  ]);
  if (state.dataset !== id) {
    return; // another dataset was chosen meanwhile
  }
  document.getElementById("dataset").hidden = false;
  document.getElementById("dataset-title").textContent = `${dataset.name} (${dataset.id})`;
  document.getElementById("summary").textContent =
    `${stats.tasks} tasks, ${stats.instances} instances (${stats.instances_with_input} with an input), ` +
    (stats.unanswered ? `${stats.unanswered} tasks with no answer yet (${unansweredBySource(stats)}), ` : "") +
    `${stats.rejections} rejections; verbs read from ${composition.verb_sample} instructions, ` +
    `${composition.verb_found} with a root verb.`;
  await drawCharts(stats, composition);
  drawSnapshots(snapshots.items);
  document.body.dataset.loaded = `${id}:${stats.tasks}:${stats.rejections}`; // for tests and scripts
}

// ---- charts ----

function showEmpty(id, text) {
  const div = document.getElementById(id);
  if (div.data) {
    Plotly.purge(div);
  }
  const note = document.createElement("p");
  note.className = "empty";
  note.textContent = text;
  div.replaceChildren(note);
}

function plot(id, traces, layout = {}) {
  const div = document.getElementById(id);
  if (!div.data) {
    div.replaceChildren(); // drop an earlier "no data" note
  }
  const margins = { margin: { t: 10, r: 10, b: 40, l: 50 } };
  return Plotly.react(div, traces, { ...margins, ...layout }, PLOT_CONFIG);
}

function bars(id, counts, empty, layout = {}) {
  const keys = Object.keys(counts);
  if (keys.length === 0) {
    return showEmpty(id, empty);
  }
  return plot(id, [{ type: "bar", x: keys, y: keys.map((k) => counts[k]) }], layout);
}

function pie(id, counts, empty) {
  const keys = Object.keys(counts);
  if (keys.every((k) => counts[k] === 0)) {
    return showEmpty(id, empty);
  }
  return plot(id, [{ type: "pie", labels: keys, values: keys.map((k) => counts[k]), sort: false, hole: 0.4 }]);
}

function lengthHistogram(id, histogram, empty) {
  if (histogram.total === 0) {
    return showEmpty(id, empty);
  }
  const trace = {
    type: "bar", x: histogram.starts, y: histogram.counts, width: histogram.bin_width, offset: 0,
    hovertemplate: `%{x}-%{customdata} chars: %{y}<extra></extra>`,
    customdata: histogram.starts.map((start) => start + histogram.bin_width - 1),
  };
  return plot(id, [trace], { bargap: 0.02, xaxis: { title: { text: "characters" } } });
}

function rejections(reasons) {
  const ordered = Object.keys(reasons).reverse(); // largest at the top of a horizontal bar chart
  if (ordered.length === 0) {
    return showEmpty("chart-rejections", "no rejections");
  }
  const trace = { type: "bar", orientation: "h", y: ordered, x: ordered.map((r) => reasons[r]) };
  return plot("chart-rejections", [trace], { margin: { t: 10, r: 10, b: 40, l: 180 } });
}

function verbs(sunburst) {
  if (sunburst.ids.length === 0) {
    return showEmpty("chart-verbs", "no instruction has a root verb");
  }
  const trace = { type: "sunburst", branchvalues: "total", ...sunburst };
  return plot("chart-verbs", [trace], { margin: { t: 0, r: 0, b: 0, l: 0 } });
}

function drawCharts(stats, composition) {
  const share = stats.classification.count;
  return Promise.all([
    bars("chart-category", stats.by_category, "no tasks"),
    pie("chart-classification", { classification: share, other: stats.tasks - share }, "no tasks"),
    pie("chart-source", stats.by_source, "no tasks"),
    rejections(stats.rejections_by_reason),
    lengthHistogram("chart-instruction-length", composition.lengths.instruction, "no tasks"),
    lengthHistogram("chart-output-length", composition.lengths.output, "no instances"),
    verbs(composition.sunburst),
    bars("chart-quality", stats.quality ? stats.quality.histogram : {}, "no judged tasks"),
    bars("chart-kill-rate", stats.code ? stats.code.kill_rates : {}, "no mutation-scored code tasks"),
  ]);
}

// ---- snapshots ----

async function download(event, file) {
  if (!apiKey()) {
    return; // the plain link works without a key
  }
  event.preventDefault(); // a link cannot send the key: fetch it, then hand the browser the bytes
  const blob = await (await fetchApi(file.url)).blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = file.name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 60000);
}

function drawSnapshots(snapshots) {
  replaceRows("snapshots", snapshots.map((snapshot) => {
    const row = document.createElement("tr");
    row.dataset.snapshotId = snapshot.id;
    cell(row, String(snapshot.number));
    cell(row, snapshot.created_at);
    const { train, validation } = snapshot.counts;
    cell(row, `${train ? train.tasks : 0} / ${validation ? validation.tasks : 0}`);
    const links = cell(row, "");
    for (const file of [...snapshot.files, ...snapshot.documents]) {
      const link = document.createElement("a");
      link.href = file.url;
      link.textContent = file.name;
      link.download = file.name;
      link.addEventListener("click", (event) => download(event, file).catch(report));
      links.append(link, " ");
    }
    return row;
  }));
}

// ---- jobs ----

function jobRow(job) {
  const row = document.createElement("tr");
  row.dataset.jobId = job.id;
  row.dataset.status = job.status;
  row.dataset.accepted = String(job.accepted);
  row.dataset.rounds = String(job.progress.rounds);
  [job.id, job.dataset_id, job.method, job.status, `${job.accepted} / ${job.target}`].forEach((v) => cell(row, v));
  const bar = document.createElement("progress");
  bar.max = job.target;
  bar.value = Math.min(job.accepted, job.target);
  cell(row, "").appendChild(bar);
  cell(row, String(job.progress.rounds));
  cell(row, String(job.progress.tasks_per_min));
  return row;
}

// One polling loop: start() bumps the generation, and a loop of an older one stops; so does a refused key.
async function pollJobs(generation) {
  let active = false;
  try {
    const items = await pages("/v1/jobs");
    const shown = [...items.filter((job) => ACTIVE.has(job.status)).reverse(),
      ...items.filter((job) => !ACTIVE.has(job.status)).slice(-RECENT_FINISHED).reverse()];
    replaceRows("jobs", shown.map(jobRow));
    active = items.some((job) => ACTIVE.has(job.status));
    // a job that moved (or finished) changes its dataset's figures: redraw the one shown
    const moved = items.some((job) => job.dataset_id === state.dataset && state.jobs.has(job.id)
      && state.jobs.get(job.id) !== `${job.status}:${job.accepted}`);
    state.jobs = new Map(items.map((job) => [job.id, `${job.status}:${job.accepted}`]));
    if (moved) {
      await Promise.all([loadDatasets(), loadDataset(state.dataset)]);
    }
    setStatus(`updated ${new Date().toLocaleTimeString()}`);
  } catch (error) {
    report(error);
    if (error instanceof Unauthorized) {
      return; // until a key is given
    }
  }
  if (generation === state.generation) {
    state.timer = setTimeout(() => pollJobs(generation), active ? FAST_POLL_MS : SLOW_POLL_MS);
  }
}

// ---- start ----

function report(error) {
  if (!(error instanceof Unauthorized)) {
    setStatus(String(error.message || error), true);
  }
}

async function start() {
  clearTimeout(state.timer);
  state.generation += 1;
  const generation = state.generation;
  try {
    await loadDatasets();
  } catch (error) {
    report(error);
  }
  pollJobs(generation);
}

document.getElementById("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY_ITEM, document.getElementById("api-key").value);
  document.getElementById("key-form").hidden = true;
  document.getElementById("forget-key").hidden = false;
  state.dataset = null;
  start();
});
document.getElementById("forget-key").addEventListener("click", () => {
  sessionStorage.removeItem(KEY_ITEM);
  location.reload();
});
document.getElementById("forget-key").hidden = !apiKey();
start();
