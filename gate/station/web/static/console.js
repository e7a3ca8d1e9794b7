// The officers' console page. Plain JS, no framework, no CDN. Every text that comes from a gate or the
// store is set with textContent (never innerHTML), so a hostile name or cmd_id stays text.
"use strict";

const body = document.body;
const LABELS = JSON.parse(body.dataset.labels || "{}");
const ALARM_TYPES = JSON.parse(body.dataset.alarmTypes || "[]");
const ROLE = body.dataset.role;
const USER = body.dataset.user;
const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const PAGE_SIZE = 50;

const state = { page: 1, pages: 1, counts: {}, items: [], selected: null, view: "alarms", reload: null };
const ZONE = body.dataset.timezone || "UTC";

// The station's zone, with the date when it is not today there (as gate/station/board.py local_time).
function localTime(ts) {
  if (!ts) return "";
  const d = new Date(ts);
  if (isNaN(d)) return String(ts);
  const part = (date, opts) => new Intl.DateTimeFormat("en-CA", { timeZone: ZONE, hourCycle: "h23", ...opts }).format(date);
  const day = part(d, { year: "numeric", month: "2-digit", day: "2-digit" });
  const time = part(d, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return day === part(new Date(), { year: "numeric", month: "2-digit", day: "2-digit" }) ? time : `${day} ${time}`;
}
const label = (code) => LABELS[code] || String(code).replace(/_/g, " ");
const $ = (sel) => document.querySelector(sel);

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

async function api(path, options = {}) {
  const opts = { credentials: "same-origin", ...options, headers: { ...(options.headers || {}) } };
  if (opts.method && opts.method !== "GET") {
    opts.headers["Content-Type"] = "application/json";
    opts.headers["X-CSRF-Token"] = CSRF;
    opts.body = JSON.stringify(options.json || {});
  }
  const res = await fetch(path, opts);
  if (res.status === 401) { window.location = "/login"; throw new Error("logged out"); }
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  return { status: res.status, data };
}

// -- sound: Web Audio plays the shipped WAV in a loop while any alarm is NEW (supervisors: escalated) --
const sound = { ctx: null, buffer: null, source: null, playing: false, wanted: false };
window.gateConsole = { sound, state, notified: [] };

async function initSound() {
  try {
    sound.ctx = new (window.AudioContext || window.webkitAudioContext)();
    const wav = await (await fetch("/static/alarm.wav")).arrayBuffer();
    sound.buffer = await sound.ctx.decodeAudioData(wav);
  } catch (e) {
    sound.error = String(e);
  }
  updateSound();
}

function updateSound() {
  const btn = $("#sound-enable");
  if (!sound.ctx || !sound.buffer) return;
  btn.hidden = sound.ctx.state !== "suspended";
  if (sound.wanted && !sound.playing) {
    if (sound.ctx.state === "suspended") sound.ctx.resume().then(updateSound, () => {});
    const src = sound.ctx.createBufferSource();
    src.buffer = sound.buffer;
    src.loop = true;
    src.connect(sound.ctx.destination);
    src.start();
    sound.source = src;
    sound.playing = true;
  } else if (!sound.wanted && sound.playing) {
    sound.source.stop();
    sound.source = null;
    sound.playing = false;
  }
}

$("#sound-enable").addEventListener("click", () => sound.ctx && sound.ctx.resume().then(updateSound));

function notify(record) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  try {
    new Notification(label(record.type), { body: String(record.gate), tag: `${record.gate}/${record.seq}` });
    const shown = window.gateConsole.notified;
    shown.push(`${record.gate}/${record.seq}`);
    if (shown.length > 100) shown.shift();  // a page left open for months stays small
  }
  catch (e) { /* some browsers only allow notifications from a service worker */ }
}

if ("Notification" in window && Notification.permission === "default") {
  const btn = $("#notify-enable");
  btn.hidden = false;
  btn.addEventListener("click", () => Notification.requestPermission().then(() => { btn.hidden = true; }));
}

// -- the board -----------------------------------------------------------------------------------
function detailsText(details) {
  return Object.entries(details || {}).map(([k, v]) => {
    const value = typeof v === "object" ? JSON.stringify(v) : String(v);
    return `${label(k)}: ${k === "reason" ? label(value) : value}`;
  }).join("; ");
}

function stateText(item) {
  let text = label(item.state);
  if (item.state === "claimed") text += ` (${item.claimed_by})`;
  if (item.state === "closed" && item.closed_by) text += ` (${item.closed_by})`;
  if (item.state === "unconfirmed" && item.ack_error) text += `: ${item.ack_error}`;
  if (item.escalated) text += ` ⚠ ${label("escalated")}`;
  if (item.verified === false) text += ` — ${label("UNVERIFIED: no valid signature from the gate")}`;
  return text;
}

function renderBoard(data) {
  state.items = data.items;
  state.counts = data.counts;
  state.pages = data.pages;
  const c = data.counts;
  $("#counts").textContent = `${c.open} ${label("open")} · ${c.new} ${label("new")} · ${c.total} ${label("shown (open and last 24 h)")}`;
  $("#page-info").textContent = `${data.page} / ${data.pages}`;
  $("#page-prev").disabled = data.page <= 1;
  $("#page-next").disabled = data.page >= data.pages;
  const tbody = $("#alarms tbody");
  const rows = data.items.map((item) => {
    const tr = el("tr");
    tr.dataset.gate = item.gate;
    tr.dataset.seq = item.seq;
    tr.className = `alarm state-${item.state}${item.urgent ? " urgent" : ""}${item.escalated ? " escalated" : ""}${item.verified === false ? " unverified" : ""}`;
    tr.appendChild(el("td", label(item.type), "type"));
    const gate = el("td", item.gate_name, "gate");
    if (item.gate_name !== item.gate) gate.appendChild(el("small", item.gate));
    tr.appendChild(gate);
    const when = el("td", item.time_local, "when");
    if (item.delayed_s) when.appendChild(el("span", `${label("delayed by")} ${item.delayed_s} s`, "delayed"));
    tr.appendChild(when);
    tr.appendChild(el("td", stateText(item), "state"));
    tr.appendChild(el("td", detailsText(item.details), "details"));
    const actions = el("td", null, "actions");
    if (item.state === "new" && ROLE !== "guard") {
      const b = el("button", label("Claim"), "claim");
      b.type = "button";
      b.addEventListener("click", (ev) => { ev.stopPropagation(); claim(item); });
      actions.appendChild(b);
    }
    tr.appendChild(actions);
    tr.addEventListener("click", () => openDetail(item.gate, item.seq));
    return tr;
  });
  tbody.replaceChildren(...rows);
  if (!rows.length) {
    const tr = el("tr");
    const td = el("td", label("no alarms"), "empty");
    td.colSpan = 6;
    tr.appendChild(td);
    tbody.appendChild(tr);
  }
  const esc = $("#escalation");
  esc.hidden = !(c.escalated > 0 && ROLE === "supervisor");
  esc.textContent = `${c.escalated} ${label("claimed but not acknowledged in time")}`;
  sound.wanted = c.new > 0 || (ROLE === "supervisor" && c.escalated > 0);
  updateSound();
  setLink(data.broker_connected);
}

// One board request at a time: under a flood of records the page redraws as fast as the server
// answers, never piling requests up.
async function loadBoard() {
  if (state.loading) { state.dirty = true; return; }
  state.loading = true;
  try {
    const { status, data } = await api(`/api/board?page=${state.page}&size=${PAGE_SIZE}`);
    if (status === 200) {
      if (state.page > data.pages) state.page = data.pages, state.dirty = true;
      else renderBoard(data);
    }
    if (state.selected) openDetail(state.selected.gate, state.selected.seq, true);
  } catch (e) {
    setLink(false, true);
  } finally {
    state.loading = false;
    if (state.dirty) { state.dirty = false; loadBoard(); }
  }
}

function scheduleReload() {
  if (state.reload) return;
  state.reload = setTimeout(() => { state.reload = null; loadBoard(); if (state.view === "gates") loadGates(); }, 30);
}

$("#page-prev").addEventListener("click", () => { state.page = Math.max(1, state.page - 1); loadBoard(); });
$("#page-next").addEventListener("click", () => { state.page = Math.min(state.pages, state.page + 1); loadBoard(); });

async function claim(item) {
  const { status, data } = await api(`/api/alarms/${encodeURIComponent(item.gate)}/${item.seq}/claim`, { method: "POST" });
  if (status !== 200) $("#detail-message").textContent = (data && data.error) || `HTTP ${status}`;
  loadBoard();
}

// -- one alarm's detail, claim and acknowledge -------------------------------------------------------
function fact(dl, name, value) {
  if (value === undefined || value === null || value === "") return;
  dl.appendChild(el("dt", label(name)));
  dl.appendChild(el("dd", value));
}

function recordLine(r) {
  const extra = detailsText(Object.fromEntries(Object.entries(r).filter(([k]) => !["gate", "seq", "id", "ts", "type", "historical"].includes(k))));
  return `${localTime(r.ts)} ${label(r.type)} ${extra}`;
}

async function openDetail(gate, seq, quiet) {
  const { status, data } = await api(`/api/alarms/${encodeURIComponent(gate)}/${seq}`);
  if (status !== 200) return;
  state.selected = { gate, seq };
  const a = data.alarm;
  $("#detail").hidden = false;
  $("#detail").dataset.state = a.state;
  $("#detail-title").textContent = `${label(a.type)} — ${a.gate_name}`;
  const dl = $("#detail-facts");
  dl.replaceChildren();
  fact(dl, "Gate", `${a.gate_name} (${a.gate})`);
  fact(dl, "Compound", a.compound);
  fact(dl, "Time", a.time_local + (a.delayed_s ? ` (${label("delayed by")} ${a.delayed_s} s)` : ""));
  fact(dl, "State", stateText(a));
  fact(dl, "Door now", data.door_now ? label(`door_${data.door_now}`) : "");
  fact(dl, "temperature_c", a.details.temperature_c);
  fact(dl, "guard", a.details.guard);
  fact(dl, "Note", a.ack_note ? `${a.acked_by}: ${a.ack_note}` : "");
  $("#detail-door").replaceChildren(...data.door_events.map((r) => el("li", recordLine(r))));
  $("#detail-attempts").replaceChildren(...data.last_attempts.map((r) => el("li", recordLine(r))));
  const shots = $("#detail-snapshots");
  shots.replaceChildren(...data.snapshots.map((s) => {
    const fig = el("figure");
    if (s.error) {
      fig.appendChild(el("figcaption", `${localTime(s.taken_at)}: ${label("camera")}: ${s.error}`, "error"));
    } else {
      const img = el("img");
      img.src = `/api/alarms/${encodeURIComponent(a.gate)}/${a.seq}/snapshots/${s.n}`;
      img.alt = `${a.gate_name} ${localTime(s.taken_at)}`;
      fig.appendChild(img);
      fig.appendChild(el("figcaption", localTime(s.taken_at)));
    }
    return fig;
  }));
  const open = a.state !== "closed";
  $("#detail-claim").hidden = !(a.state === "new" && ROLE !== "guard");
  $("#ack-form").hidden = !open || ROLE === "guard";
  if (!quiet) $("#detail-message").textContent = "";
}

$("#detail-close").addEventListener("click", () => { $("#detail").hidden = true; state.selected = null; });
$("#detail-claim").addEventListener("click", () => state.selected && claim(state.selected));
$("#ack-resolution").addEventListener("change", (ev) => {
  const note = $("#ack-note");
  if (ev.target.value && !note.value.trim()) note.value = ev.target.value;
});
$("#ack-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const sel = state.selected;
  const note = $("#ack-note").value.trim() || $("#ack-resolution").value;
  const msg = $("#detail-message");
  if (!sel) return;
  if (!note) { msg.textContent = label("A note is required: say what was done."); return; }
  msg.textContent = label("Sending the acknowledgement to the gate...");
  const { status, data } = await api(`/api/alarms/${encodeURIComponent(sel.gate)}/${sel.seq}/ack`, { method: "POST", json: { note } });
  if (status === 200) msg.textContent = label("The gate confirmed: alarm closed.");
  else if (status === 202) msg.textContent = `${label("The gate did not confirm")}: ${data.error}`;
  else msg.textContent = (data && data.error) || `HTTP ${status}`;
  msg.dataset.status = String(status);
  $("#ack-note").value = "";
  loadBoard();
});

// -- link state: the station's broker (from the server) versus this page's link to the server ------
function setLink(connected, pageLost) {
  const node = $("#link-state");
  if (pageLost) { node.className = "link lost"; node.textContent = label("This page lost the station server"); return; }
  node.className = connected ? "link ok" : "link lost";
  node.textContent = connected ? label("Station online") : label("The station has lost its broker: no gate can reach it");
}

async function pollHealth() {
  try {
    const { status, data } = await api("/api/health");
    if (status === 200) setLink(data.broker_connected);
  } catch (e) { setLink(false, true); }
}

function openStream() {
  const es = new EventSource("/api/stream");
  es.onopen = () => loadBoard();
  es.onmessage = (ev) => {
    let rec;
    try { rec = JSON.parse(ev.data); } catch (e) { return; }
    if (rec && ALARM_TYPES.includes(rec.type)) notify(rec);
    scheduleReload();
  };
  es.onerror = () => setLink(false, es.readyState !== EventSource.OPEN);
}

// -- gates, commands, history, audit -------------------------------------------------------------------
async function loadGates() {
  const { status, data } = await api("/api/gates");
  if (status !== 200) return;
  const rows = data.gates.map((g) => {
    const tr = el("tr");
    tr.dataset.gate = g.gate;
    const name = el("td", g.name, "gate");
    if (g.name !== g.gate) name.appendChild(el("small", g.gate));
    tr.appendChild(name);
    tr.appendChild(el("td", g.compound));
    tr.appendChild(el("td", g.online === null ? label("unknown") : (g.online ? label("online") : label("offline")), g.online ? "ok" : "lost"));
    tr.appendChild(el("td", localTime(g.status_at)));
    tr.appendChild(el("td", g.door ? label(`door_${g.door}`) : "-"));
    tr.appendChild(el("td", g.lock ? label(g.lock) : "-"));
    tr.appendChild(el("td", g.mode ? label(g.mode) : "-"));
    tr.appendChild(el("td", g.last_record ? `${localTime(g.last_record.ts)} ${label(g.last_record.type)}` : "-"));
    tr.appendChild(el("td", g.missing));
    const act = el("td");
    const actions = ROLE === "guard" ? ["unlock"] : ["unlock", "lockdown_on", "lockdown_off"];
    for (const a of actions) {
      const b = el("button", label(a), `cmd-${a}`);
      b.type = "button";
      b.addEventListener("click", (ev) => { ev.stopPropagation(); confirmCommand(g, a); });
      act.appendChild(b);
    }
    tr.appendChild(act);
    tr.addEventListener("click", () => loadGateRecords(g));
    return tr;
  });
  $("#gates tbody").replaceChildren(...rows);
  renderReceivers(data.receivers || []);
  setLink(data.broker_connected);
}

function renderReceivers(receivers) {
  $("#receivers").hidden = receivers.length === 0;
  $("#receivers tbody").replaceChildren(...receivers.map((r) => {
    const tr = el("tr");
    tr.appendChild(el("td", `${r.name} (${r.address}, ${r.format}${r.encrypted ? ", AES" : ""})`));
    tr.appendChild(el("td", r.state === "up" ? label("online") : label("offline"), r.state === "up" ? "ok" : "lost"));
    tr.appendChild(el("td", r.since ? localTime(r.since) : "-"));
    tr.appendChild(el("td", String(r.pending ?? 0)));
    tr.appendChild(el("td", r.last_error || "-"));
    return tr;
  }));
}

async function loadGateRecords(g) {
  const { status, data } = await api(`/api/gates/${encodeURIComponent(g.gate)}/records`);
  if (status !== 200) return;
  $("#gate-records").hidden = false;
  $("#gate-records-title").textContent = data.name;
  fillRecords($("#gate-records tbody"), data.records);
}

function fillRecords(tbody, records) {
  tbody.replaceChildren(...records.map((r) => {
    const tr = el("tr");
    tr.appendChild(el("td", r.gate));
    tr.appendChild(el("td", r.seq));
    tr.appendChild(el("td", localTime(r.ts)));
    tr.appendChild(el("td", label(r.type)));
    tr.appendChild(el("td", recordLine(r)));
    return tr;
  }));
}

function confirmCommand(g, action) {
  const dlg = $("#confirm");
  $("#confirm-text").textContent = `${label(action)}: ${g.name}?`;
  $("#confirm-seconds-label").hidden = action !== "unlock";
  $("#confirm-reason").value = "";
  dlg.dataset.gate = g.gate;
  dlg.dataset.action = action;
  dlg.showModal();
}

$("#confirm-cancel").addEventListener("click", () => $("#confirm").close());
$("#confirm-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const dlg = $("#confirm");
  const reason = $("#confirm-reason").value.trim();
  if (!reason) return;
  const action = dlg.dataset.action;
  const json = action === "unlock" ? { action: "unlock", seconds: Number($("#confirm-seconds").value), reason }
    : { action: "lockdown", on: action === "lockdown_on", reason };
  dlg.close();
  const answer = $("#command-answer");
  answer.textContent = label("Sending...");
  const { status, data } = await api(`/api/gates/${encodeURIComponent(dlg.dataset.gate)}/command`, { method: "POST", json });
  answer.textContent = data ? (data.answer || data.error) : `HTTP ${status}`;
  answer.dataset.ok = String(status === 200);
  loadGates();
});

function historyQuery() {
  const form = new FormData($("#history-form"));
  const q = new URLSearchParams();
  for (const [k, v] of form.entries()) {
    if (!v) continue;
    q.set(k, (k === "since" || k === "until") ? new Date(v).toISOString() : v);
  }
  return q.toString();
}

$("#history-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const q = historyQuery();
  $("#history-csv").href = `/api/history.csv?${q}`;
  const { status, data } = await api(`/api/history?${q}`);
  if (status === 200) fillRecords($("#history tbody"), data.records);
});

async function loadAudit() {
  const { status, data } = await api("/api/audit");
  if (status !== 200) return;
  $("#audit tbody").replaceChildren(...data.audit.map((a) => {
    const tr = el("tr");
    tr.appendChild(el("td", localTime(a.at)));
    for (const k of ["officer", "action", "target", "detail"]) tr.appendChild(el("td", a[k]));
    return tr;
  }));
}

document.querySelectorAll("nav.tabs button").forEach((b) => b.addEventListener("click", () => {
  state.view = b.dataset.view;
  document.querySelectorAll("nav.tabs button").forEach((x) => x.classList.toggle("active", x === b));
  document.querySelectorAll("section.view").forEach((s) => { s.hidden = s.id !== `view-${state.view}`; });
  if (state.view === "gates") loadGates();
  if (state.view === "audit") loadAudit();
}));

$("#language").addEventListener("change", async (ev) => {
  await api("/api/me/language", { method: "POST", json: { language: ev.target.value } });
  window.location.reload();
});

$("#logout").addEventListener("click", async () => {
  await api("/api/logout", { method: "POST" });
  window.location = "/login";
});

initSound();
openStream();
loadBoard();
setInterval(loadBoard, 10000);  // escalation deadlines and the 24 h window move without records
setInterval(pollHealth, 5000);
