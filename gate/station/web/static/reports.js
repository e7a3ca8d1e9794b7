"use strict";
// The reports page: one compound's day; values are set with textContent (never as markup).
const $ = (id) => document.getElementById(id);
const path = () => `/api/reports/${encodeURIComponent($("report-compound").value)}/${encodeURIComponent($("report-date").value)}`;

function fill(table, rows) {
  const keys = table.dataset.keys.split(" ");
  const body = table.querySelector("tbody");
  body.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement("tr");
    for (const k of keys) {
      const td = document.createElement("td");
      const v = row[k];
      td.textContent = Array.isArray(v) ? v.join(" ") : v === true ? "✔" : v === false ? "" : String(v ?? "");
      td.className = k;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

async function show(ev) {
  if (ev) ev.preventDefault();
  const message = $("report-message");
  $("report-csv").href = `${path()}.csv?lang=${encodeURIComponent(document.body.dataset.lang)}`;
  const res = await fetch(path(), { credentials: "same-origin" });
  if (res.status === 401) { window.location = "/login"; return; }
  const data = await res.json();
  message.dataset.status = String(res.status);
  if (res.status !== 200) { message.textContent = data.error; message.className = "error"; return; }
  message.textContent = "";
  fill($("report-unknown"), data.unknown_cards);
  fill($("report-quarantine"), data.quarantine_exits);
  fill($("report-outings"), data.outings);
}

$("report-form").addEventListener("submit", show);
window.gateReports = { show, ready: show() };
