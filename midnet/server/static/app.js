// midnet serve's page: uploads, the job list and the before/after viewer, over the JSON API (/openapi.json).
// Plain DOM, no build step: names from uploads only ever go in through textContent, never as HTML.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const cards = new Map();          // job id (or a local key while uploading) -> <li>
const uploads = [];               // files waiting to be sent, one at a time
let client = null, uploading = false, pollTimer = null, viewerJob = null;

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new Error(body?.detail ? detailText(body.detail) : `${response.status} ${response.statusText}`);
  return body;
}

function detailText(detail) {    // FastAPI's validation errors are a list; ours are one line
  return Array.isArray(detail) ? detail.map(d => `${d.loc?.slice(-1)[0]}: ${d.msg}`).join("; ") : String(detail);
}

async function start() {
  client = localStorage.getItem("midnet-client");
  if (!client) {
    client = (await api("api/clients", { method: "POST" })).client;
    localStorage.setItem("midnet-client", client);
  }
  $("#zip").href = `api/clients/${client}/results.zip`;
  setUpDrop();
  setUpViewer();
  await poll();
}

// ---- uploads -----------------------------------------------------------------------------------

function setUpDrop() {
  const drop = $("#drop"), input = $("#files");
  drop.addEventListener("dragover", e => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", e => { e.preventDefault(); drop.classList.remove("over"); add(e.dataTransfer.files); });
  drop.addEventListener("keydown", e => { if (e.key === "Enter" || e.key === " ") input.click(); });
  input.addEventListener("change", () => { add(input.files); input.value = ""; });
}

function add(fileList) {
  for (const file of fileList) {
    const key = `upload-${Math.random().toString(36).slice(2)}`;
    const li = newCard(key, file.name);
    setState(li, "uploading", "waiting to upload…");
    uploads.push({ key, file, li });
  }
  if (!uploading) sendNext();
}

function sendNext() {
  const next = uploads.shift();
  if (!next) { uploading = false; return; }
  uploading = true;
  const form = new FormData();
  form.append("client", client);
  form.append("file", next.file, next.file.name);
  const xhr = new XMLHttpRequest();   // fetch cannot report upload progress
  xhr.open("POST", "api/jobs");
  xhr.upload.onprogress = e => {
    if (e.lengthComputable) { $("progress", next.li).value = e.loaded / e.total; }
    setState(next.li, "uploading", `uploading… ${Math.round(100 * e.loaded / (e.total || 1))}%`);
  };
  xhr.onload = () => {
    let body = null;
    try { body = JSON.parse(xhr.responseText); } catch (_) { /* a proxy's HTML error page */ }
    cards.delete(next.key);
    if (xhr.status === 201) { cards.set(body.id, next.li); next.li.dataset.id = body.id; render(body); schedule(300); }
    else setState(next.li, "rejected", `rejected: ${body?.detail ? detailText(body.detail) : xhr.status + " " + xhr.statusText}`);
    sendNext();
  };
  xhr.onerror = () => { setState(next.li, "rejected", "upload failed: the server could not be reached"); sendNext(); };
  xhr.send(form);
}

// ---- the job list ------------------------------------------------------------------------------

function newCard(key, name) {
  const li = $("#job-template").content.firstElementChild.cloneNode(true);
  $(".name", li).textContent = name;
  li.dataset.name = name;
  $("#jobs").append(li);
  $("#empty").hidden = true;
  cards.set(key, li);
  $(".cancel", li).addEventListener("click", () => cancel(li));
  $(".compare", li).addEventListener("click", () => openViewer(li.job));
  return li;
}

function setState(li, state, text) {
  li.className = `job ${state}`;
  li.dataset.state = state;
  $(".state", li).textContent = text;
}

function render(job) {
  const li = cards.get(job.id) || newCard(job.id, job.name);
  li.dataset.id = job.id;
  li.job = job;
  const thumb = $(".thumb", li);
  if (!thumb.getAttribute("src")) thumb.src = job.input_preview;
  const pages = job.pages > 1 ? ` · ${job.pages} pages (first shown)` : "";
  $(".meta", li).textContent = `${job.width} × ${job.height} · ${job.dtype}${job.channels > 1 ? " · " + job.channels + " channels" : ""}${pages}`;
  renderScore($(".score", li), job.score);
  setState(li, job.state, stateText(job));
  const bar = $("progress", li);
  if (job.state === "running") bar.value = job.progress ?? 0; else if (job.state === "queued") bar.removeAttribute("value");
  $(".cancel", li).hidden = !["queued", "running"].includes(job.state);
  $(".compare", li).hidden = job.state !== "done";
  const download = $(".download", li);
  download.hidden = job.state !== "done";
  if (job.result) download.href = job.result;
}

function renderScore(box, score) {
  box.replaceChildren();
  if (!score) { box.textContent = "focus: too flat to judge"; return; }
  const badge = document.createElement("span");
  badge.className = `badge ${score.verdict.replace(/ /g, "-")}`;
  badge.textContent = score.verdict;
  const text = score.blur_px == null ? "" : `blur ${score.blur_px.toFixed(1)} px, confidence ${score.confidence.toFixed(2)}`;
  box.append(badge, document.createTextNode(text));
}

function stateText(job) {
  switch (job.state) {
    case "queued": return job.ahead ? `busy: ${job.ahead} ahead of you` : "next in line";
    case "running": return `restoring… ${Math.round(100 * (job.progress ?? 0))}%`;
    case "done": return job.message ? `restored · note: ${job.message}` : "restored";
    case "failed": return `failed: ${job.message}`;
    default: return job.state;
  }
}

async function cancel(li) {
  if (!li.dataset.id || li.dataset.id.startsWith("upload-")) return;
  try { await api(`api/jobs/${li.dataset.id}/cancel`, { method: "POST" }); } catch (e) { $("#status").textContent = e.message; }
  schedule(100);
}

function schedule(ms) { clearTimeout(pollTimer); pollTimer = setTimeout(poll, ms); }

async function poll() {
  let active = false;
  try {
    const [jobs, status] = await Promise.all([api(`api/jobs?client=${client}`), api("api/status")]);
    jobs.forEach(render);
    active = jobs.some(j => j.state === "queued" || j.state === "running");
    $("#zip").hidden = !jobs.some(j => j.state === "done");
    const busy = status.queued + status.running;
    const r = status.restorer;
    $("#status").textContent = `${r.model || r.method} · ${busy ? busy + " file" + (busy > 1 ? "s" : "") + " in the queue" : "idle"}`;
  } catch (e) {
    $("#status").textContent = `server unreachable (${e.message}); retrying`;
    active = true;
  }
  schedule(active || uploading ? 1000 : 5000);
}

// ---- before / after ----------------------------------------------------------------------------

const view = { scale: 1, x: 0, y: 0, width: 1, height: 1 };

function setUpViewer() {
  document.querySelectorAll("input[name=mode]").forEach(r => r.addEventListener("change", () => {
    $("#panes").className = r.value;
    fit();
  }));
  $("#split").addEventListener("input", applySplit);
  $("#close-viewer").addEventListener("click", () => { $("#viewer").hidden = true; viewerJob = null; });
  document.querySelectorAll("[data-zoom]").forEach(b => b.addEventListener("click", () => {
    const pane = visiblePane(), cx = pane.clientWidth / 2, cy = pane.clientHeight / 2;
    ({ in: () => zoomAt(2, cx, cy), out: () => zoomAt(0.5, cx, cy), one: () => zoomAt(1 / view.scale, cx, cy), fit })[b.dataset.zoom]();
  }));
  document.querySelectorAll(".pane").forEach(pane => {
    pane.addEventListener("wheel", e => {
      e.preventDefault();
      const box = pane.getBoundingClientRect();
      zoomAt(e.deltaY < 0 ? 1.25 : 0.8, e.clientX - box.left, e.clientY - box.top);
    }, { passive: false });
    pane.addEventListener("pointerdown", e => {
      if (e.target.id === "split") return;
      pane.setPointerCapture(e.pointerId);
      pane.classList.add("dragging");
      let last = [e.clientX, e.clientY];
      const move = m => { view.x += m.clientX - last[0]; view.y += m.clientY - last[1]; last = [m.clientX, m.clientY]; apply(); };
      const up = () => { pane.classList.remove("dragging"); pane.removeEventListener("pointermove", move); };
      pane.addEventListener("pointermove", move);
      pane.addEventListener("pointerup", up, { once: true });
    });
  });
}

function openViewer(job) {
  viewerJob = job;
  $("#viewer").hidden = false;
  $("#viewer-title").textContent = `Before / after: ${job.name}`;
  view.width = job.width; view.height = job.height;
  document.querySelectorAll("#viewer img.before").forEach(img => { img.src = job.input_preview; });
  document.querySelectorAll("#viewer img.after").forEach(img => { img.src = job.result_preview; });
  fit();
  applySplit();
  $("#viewer").scrollIntoView({ behavior: "smooth" });
}

function visiblePane() { return $("#pane-a"); }   // both panes have its size

function fit() {
  const pane = visiblePane();
  view.scale = Math.min(pane.clientWidth / view.width, pane.clientHeight / view.height) || 1;
  view.x = (pane.clientWidth - view.width * view.scale) / 2;
  view.y = (pane.clientHeight - view.height * view.scale) / 2;
  apply();
}

function zoomAt(factor, cx, cy) {
  const scale = Math.min(32, Math.max(0.02, view.scale * factor));
  view.x = cx - (cx - view.x) * (scale / view.scale);
  view.y = cy - (cy - view.y) * (scale / view.scale);
  view.scale = scale;
  apply();
}

function apply() {   // both panes show the same place at the same scale: side by side stays aligned
  document.querySelectorAll(".layer").forEach(layer => {
    layer.style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.scale})`;
    layer.classList.toggle("pixels", view.scale >= 2);
  });
  $("#zoom-level").textContent = `${Math.round(view.scale * 100)}%`;
  applySplit();
}

function applySplit() {   // the slider's position, in screen pixels, cut into image pixels
  const pane = $("#pane-a"), at = pane.clientWidth * $("#split").value / 100;
  const cut = Math.max(0, Math.min(view.width, (at - view.x) / view.scale));
  $("#pane-a img.after").style.clipPath = `inset(0 0 0 ${cut}px)`;
}

start().catch(e => { $("#status").textContent = `cannot start: ${e.message}`; });
