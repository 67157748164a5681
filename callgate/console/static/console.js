// callgate console: the public REST API, polled, rendered into the page. No framework, no build step.
"use strict";

const POLL_MS = 500;
const METER_FLOOR_DB = -60; // the meter's empty end; 0 dBFS fills it
const COLOURS = {
  ANSWERED: "#3a9d5d", "NO ANSWER": "#e0b020", BUSY: "#d9822b", FAILED: "#d9452b", CANCEL: "#8a8f98",
};

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("callgate.token") || "";
let page = 1;
let totalPages = 1;
let polling = null;
let recordingUrl = null; // the object URL of the recording in the player, released on the next

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", ...(options.headers || {}) },
  });
  let body = null;
  try { body = await response.json(); } catch { /* not JSON: reported below */ }
  if (response.status === 401) { logout("The token was refused: " + (body && body.errors || "401")); }
  if (!response.ok) { throw new Error((body && body.errors) || `HTTP ${response.status}`); }
  return body;
}

// --- login -----------------------------------------------------------------------------------------

async function login(candidate) {
  token = candidate;
  try {
    await api("/v1/calls");
  } catch (error) {
    $("login-error").textContent = error.message;
    return;
  }
  sessionStorage.setItem("callgate.token", token);
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
  $("who").textContent = "account " + accountOf(token);
  pollLive();
  polling = setInterval(pollLive, POLL_MS);
  loadCdrs();
}

function logout(message) {
  if (polling !== null) { clearInterval(polling); polling = null; }
  sessionStorage.removeItem("callgate.token");
  token = "";
  $("app").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("who").textContent = "";
  $("login-error").textContent = message || "";
}

function accountOf(jwt) {
  try { return JSON.parse(atob(jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub || "?"; }
  catch { return "?"; }
}

// --- live calls ------------------------------------------------------------------------------------

async function pollLive() {
  let calls;
  try { calls = (await api("/v1/calls")).data; } catch { return; }
  const body = $("live").tBodies[0];
  const seen = new Set();
  for (const call of calls) {
    seen.add(call.sessionId);
    let row = body.querySelector(`tr[data-session="${call.sessionId}"]`);
    if (row === null) { row = newLiveRow(call); body.appendChild(row); }
    row.querySelector(".status").textContent = call.status;
    row.querySelector(".duration").textContent = since(call.answerTime || call.startTime);
    row.classList.toggle("recording", Boolean(call.recording));
    setMeter(row.querySelector(".heard"), call.levels.heard);
    setMeter(row.querySelector(".said"), call.levels.said);
  }
  for (const row of [...body.rows]) { if (!seen.has(row.dataset.session)) { row.remove(); } }
  $("live-count").textContent = String(calls.length);
  $("live-empty").hidden = calls.length > 0;
}

function newLiveRow(call) {
  const row = document.createElement("tr");
  row.dataset.session = call.sessionId;
  row.append(
    cell(short(call.sessionId), "session"), cell(call.type), cell(call.destination),
    cell("", "status"), cell("", "duration"), meterCell("heard"), meterCell("said"),
  );
  const button = document.createElement("button");
  button.textContent = "Hang up";
  button.className = "hangup";
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api("/pbx/hangup", { method: "POST", body: JSON.stringify({ sessionId: call.sessionId }) });
      setTimeout(loadCdrs, 300);
    } catch (error) { button.disabled = false; alert(error.message); }
  });
  const td = document.createElement("td");
  td.append(button);
  row.append(td);
  return row;
}

function meterCell(name) {
  const td = document.createElement("td");
  td.className = name;
  td.innerHTML = '<span class="meter"><span style="width:0%"></span></span><span class="db">–</span>';
  return td;
}

function setMeter(td, db) {
  const fill = db === null ? 0 : Math.max(0, Math.min(1, (db - METER_FLOOR_DB) / -METER_FLOOR_DB));
  td.querySelector(".meter > span").style.width = (fill * 100).toFixed(0) + "%";
  td.dataset.level = db === null ? "" : String(db);
  td.querySelector(".db").textContent = db === null ? "–" : db <= -120 ? "silent" : `${db.toFixed(0)} dB`;
}

// --- call records ----------------------------------------------------------------------------------

async function loadCdrs() {
  const query = new URLSearchParams({ page: String(page), limit: $("f-limit").value || "20", sortBy: $("f-sort").value });
  const value = $("f-value").value.trim();
  if (value !== "") { query.set(`filter.${$("f-field").value}`, `${$("f-op").value}:${value}`); }
  let result;
  try {
    result = await api("/v1/cdr?" + query.toString());
  } catch (error) {
    $("cdr-error").textContent = error.message;
    return;
  }
  $("cdr-error").textContent = "";
  const body = $("cdrs").tBodies[0];
  body.replaceChildren();
  for (const cdr of result.data) {
    const row = document.createElement("tr");
    row.className = "clickable";
    row.dataset.session = cdr.sessionId;
    row.append(
      cell(short(cdr.sessionId)), cell(localTime(cdr.startTime)), cell(cdr.direction), cell(cdr.destination),
      cell(cdr.disposition || "in progress", "disposition"), cell(`${cdr.duration} s`),
      cell(cdr.hangupCauseCode === null ? "" : `${cdr.hangupCauseCode} ${cdr.hangupCauseText}`),
      cell(cdr.recorded ? "●" : "", "recorded"),
    );
    row.addEventListener("click", () => showDetail(cdr.sessionId));
    body.append(row);
  }
  totalPages = Math.max(1, result.meta.totalPages);
  $("page-info").textContent = `page ${result.meta.currentPage} of ${totalPages} · ${result.meta.totalItems} records`;
  $("prev").disabled = page <= 1;
  $("next").disabled = page >= totalPages;
  drawChart(result.data);
  drawMosChart(result.data);
}

async function showDetail(sessionId) {
  const cdr = (await api(`/v1/cdr/${encodeURIComponent(sessionId)}`)).data;
  $("detail-id").textContent = sessionId;
  const list = $("detail-fields");
  list.replaceChildren();
  for (const [key, value] of Object.entries(cdr)) {
    const dt = document.createElement("dt");
    dt.textContent = key;
    const dd = document.createElement("dd");
    dd.textContent = value === null ? "—" : typeof value === "object" ? JSON.stringify(value) : String(value);
    dd.dataset.field = key;
    list.append(dt, dd);
  }
  $("detail").hidden = false;
  await showRecording(cdr);
}

// An <audio> element cannot send the token, so the WAV is fetched with it and played from a Blob.
async function showRecording(cdr) {
  if (recordingUrl) { URL.revokeObjectURL(recordingUrl); recordingUrl = null; }
  const player = $("player");
  player.removeAttribute("src");
  $("recording-error").textContent = "";
  $("recording").hidden = !cdr.recorded;
  if (!cdr.recorded) { return; }
  if (cdr.endTime === null) { $("recording-error").textContent = "Still recording: it plays once the call ends."; return; }
  const response = await fetch(`/v1/recordings/${encodeURIComponent(cdr.sessionId)}`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try { message = (await response.json()).errors || message; } catch { /* not JSON */ }
    $("recording-error").textContent = message;
    return;
  }
  recordingUrl = URL.createObjectURL(await response.blob());
  player.src = recordingUrl;
  $("recording-download").href = recordingUrl;
  $("recording-download").download = `${cdr.sessionId}.wav`;
}

function drawChart(cdrs) {
  const svg = $("chart");
  svg.replaceChildren();
  const minutes = new Map();
  for (const cdr of cdrs) {
    const minute = cdr.startTime.slice(0, 16);
    const counts = minutes.get(minute) || {};
    const disposition = cdr.disposition || "in progress";
    counts[disposition] = (counts[disposition] || 0) + 1;
    minutes.set(minute, counts);
  }
  const keys = [...minutes.keys()].sort();
  const peak = Math.max(1, ...keys.map((k) => Object.values(minutes.get(k)).reduce((a, b) => a + b, 0)));
  const width = Number(svg.getAttribute("width"));
  const height = Number(svg.getAttribute("height")) - 20;
  const bar = Math.min(40, (width - 10) / Math.max(1, keys.length) - 4);
  keys.forEach((minute, index) => {
    let y = height;
    for (const [disposition, count] of Object.entries(minutes.get(minute))) {
      const h = (count / peak) * (height - 10);
      y -= h;
      const rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
      rect.setAttribute("x", String(5 + index * (bar + 4)));
      rect.setAttribute("y", String(y));
      rect.setAttribute("width", String(bar));
      rect.setAttribute("height", String(h));
      rect.setAttribute("fill", COLOURS[disposition] || "#2d6cdf");
      rect.dataset.disposition = disposition;
      rect.dataset.count = String(count);
      const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
      title.textContent = `${minute}Z ${disposition}: ${count}`;
      rect.append(title);
      svg.append(rect);
    }
    const label = document.createElementNS("http://www.w3.org/2000/svg", "text");
    label.setAttribute("x", String(5 + index * (bar + 4)));
    label.setAttribute("y", String(height + 14));
    label.setAttribute("font-size", "10");
    label.textContent = minute.slice(11);
    svg.append(label);
  });
  $("legend").innerHTML = Object.entries(COLOURS)
    .map(([name, colour]) => `<span><i style="background:${colour}"></i>${name}</span>`).join("");
}

// The estimated MOS (E-model, 1..4.5) of each record with media, in half-point bins; records of calls
// that never carried audio (mos null) are counted in the summary only.
const MOS_BINS = [1, 1.5, 2, 2.5, 3, 3.5, 4];

function mosBin(mos) {
  let index = 0;
  MOS_BINS.forEach((low, i) => { if (mos >= low) { index = i; } });
  return index;
}

function drawMosChart(cdrs) {
  const svg = $("mos-chart");
  svg.replaceChildren();
  const counts = MOS_BINS.map(() => 0);
  let withMedia = 0;
  for (const cdr of cdrs) {
    if (typeof cdr.mos !== "number") { continue; }
    counts[mosBin(cdr.mos)] += 1;
    withMedia += 1;
  }
  const peak = Math.max(1, ...counts);
  const width = Number(svg.getAttribute("width"));
  const height = Number(svg.getAttribute("height")) - 20;
  const bar = (width - 10) / MOS_BINS.length - 6;
  counts.forEach((count, index) => {
    const low = MOS_BINS[index];
    const high = index + 1 < MOS_BINS.length ? MOS_BINS[index + 1] : 4.5;
    const x = 5 + index * (bar + 6);
    const h = (count / peak) * (height - 10);
    const rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    rect.setAttribute("x", String(x));
    rect.setAttribute("y", String(height - h));
    rect.setAttribute("width", String(bar));
    rect.setAttribute("height", String(h));
    rect.setAttribute("fill", low >= 4 ? "#3a9d5d" : low >= 3.5 ? "#8fb84a" : low >= 3 ? "#e0b020" : "#d9452b");
    rect.dataset.low = String(low);
    rect.dataset.count = String(count);
    const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
    title.textContent = `MOS ${low}-${high}: ${count}`;
    rect.append(title);
    const label = document.createElementNS("http://www.w3.org/2000/svg", "text");
    label.setAttribute("x", String(x));
    label.setAttribute("y", String(height + 14));
    label.setAttribute("font-size", "10");
    label.textContent = `${low}-${high}`;
    svg.append(rect, label);
  });
  const none = cdrs.length - withMedia;
  $("mos-summary").textContent = `${withMedia} with media` + (none ? `, ${none} without (never answered)` : "");
}

// --- helpers ---------------------------------------------------------------------------------------

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) { td.className = className; }
  return td;
}

const short = (id) => id.slice(0, 8) + "…" + id.slice(-4);
const localTime = (iso) => (iso ? new Date(iso).toLocaleString() : "");

function since(iso) {
  const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

// --- wiring ----------------------------------------------------------------------------------------

$("login-form").addEventListener("submit", (event) => { event.preventDefault(); login($("token").value.trim()); });
$("logout").addEventListener("click", () => logout(""));
$("cdr-form").addEventListener("submit", (event) => { event.preventDefault(); page = 1; loadCdrs(); });
$("f-clear").addEventListener("click", () => { $("f-value").value = ""; page = 1; loadCdrs(); });
$("prev").addEventListener("click", () => { if (page > 1) { page -= 1; loadCdrs(); } });
$("next").addEventListener("click", () => { if (page < totalPages) { page += 1; loadCdrs(); } });
$("detail-close").addEventListener("click", () => { $("detail").hidden = true; });
if (token) { login(token); }
