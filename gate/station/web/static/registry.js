"use strict";
// The registry page: every value from the server is set with textContent (never as markup).
const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const T = JSON.parse(document.body.dataset.texts);
const MAY_CHANGE = document.body.dataset.mayChange === "yes";
const $ = (id) => document.getElementById(id);
const compound = () => $("registry-compound").value;
const base = () => `/api/registry/${encodeURIComponent(compound())}`;

async function call(path, body) {
  const opts = { credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    opts.method = "POST";
    opts.headers = { "Content-Type": "application/json", "X-CSRF-Token": CSRF };
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  if (res.status === 401) { window.location = "/login"; throw new Error("not logged in"); }
  let data = {};
  try { data = await res.json(); } catch (e) { data = { error: `HTTP ${res.status}` }; }
  return { status: res.status, data };
}

function say(status, text) {
  const m = $("registry-message");
  m.textContent = text;
  m.dataset.status = String(status);
  m.className = status === 200 ? "ok" : "error";
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function showVersion(v) {
  $("registry-version").textContent = !v ? T.no_registry : T.version_line.replace("{version}", v.version)
    .replace("{count}", v.count).replace("{hash}", v.hash.slice(0, 12)).replace("{change}", v.change);
}

async function search() {
  const q = $("registry-q").value;
  const { status, data } = await call(`${base()}/passes?q=${encodeURIComponent(q)}`);
  const body = $("registry-results").querySelector("tbody");
  body.replaceChildren();
  if (status !== 200) { say(status, data.error); return; }
  showVersion(data.current);
  $("registry-count").textContent = T.count.replace("{shown}", data.passes.length).replace("{total}", data.total);
  for (const p of data.passes) {
    const tr = document.createElement("tr");
    tr.dataset.card = p.card;
    tr.className = p.revoked ? "pass revoked" : "pass";
    for (const k of ["card", "name", "household", "pass_type", "valid_from_local", "valid_until_local"]) cell(tr, p[k], k);
    cell(tr, p.revoked ? T.revoked : T.active, "state");
    const td = cell(tr, "");
    if (MAY_CHANGE && !p.revoked) {
      const b = document.createElement("button");
      b.type = "button"; b.className = "revoke"; b.textContent = T.revoke;
      b.addEventListener("click", () => revoke(p.card));
      td.appendChild(b);
    }
    body.appendChild(tr);
  }
}

function changed(status, data) {
  if (status !== 200) { say(status, data.error); return; }
  const where = data.publish_error ? `${T.not_published}: ${data.publish_error}` : `${T.published} ${data.published.join(", ")}`;
  say(200, `${T.saved} ${data.version.version} (${data.version.count}); ${where}`);
  search(); drift();
}

async function revoke(card) {
  if (!window.confirm(`${T.confirm_revoke} ${card}`)) return;
  const { status, data } = await call(`${base()}/passes/${encodeURIComponent(card)}/revoke`, {});
  changed(status, data);
}

async function add(ev) {
  ev.preventDefault();
  const { status, data } = await call(`${base()}/passes`, {
    card: $("add-card").value, name: $("add-name").value, household: $("add-household").value,
    pass_type: $("add-type").value, valid_from: $("add-valid-from").value, valid_until: $("add-valid-until").value,
  });
  if (status === 200) $("registry-add-form").reset();
  changed(status, data);
}

function base64(buffer) {
  const bytes = new Uint8Array(buffer);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

async function importFile(ev) {
  ev.preventDefault();
  const file = $("registry-import-file").files[0];
  if (!file) { say(422, T.no_file); return; }
  if (!window.confirm(T.confirm_import)) return;
  const data = base64(await file.arrayBuffer());
  const answer = await call(`${base()}/import`, { filename: file.name, data });
  if (answer.status === 200) answer.data.version.count = `${answer.data.version.count}, ${answer.data.encoding}`;
  changed(answer.status, answer.data);
}

async function drift() {
  const { status, data } = await call(`${base()}/drift`);
  const body = $("registry-drift").querySelector("tbody");
  body.replaceChildren();
  if (status !== 200) return;
  for (const g of data.gates) {
    const tr = document.createElement("tr");
    tr.dataset.gate = g.gate;
    tr.className = g.current ? "gate current" : "gate behind";
    cell(tr, g.name && g.name !== g.gate ? `${g.name} (${g.gate})` : g.gate);
    cell(tr, g.online === null ? T.unknown : g.online ? T.online : T.offline);
    cell(tr, g.registry_version === null || g.registry_version === undefined ? T.no_version : `v${g.registry_version}`);
    cell(tr, g.current ? T.current : data.current ? T.behind : T.no_registry, "verdict");
    body.appendChild(tr);
  }
}

$("registry-search-form").addEventListener("submit", (ev) => { ev.preventDefault(); search(); });
$("registry-compound").addEventListener("change", () => { search(); drift(); });
if (MAY_CHANGE) {
  $("registry-add-form").addEventListener("submit", add);
  $("registry-import-form").addEventListener("submit", importFile);
}
window.gateRegistry = { search, drift, ready: Promise.all([search(), drift()]) };
