"use strict";
document.getElementById("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  const res = await fetch("/api/login", {
    method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: document.getElementById("login-user").value,
                           password: document.getElementById("login-password").value }),
  });
  if (res.ok) { window.location = "/"; return; }
  error.textContent = res.status === 401 ? "Wrong officer name or password / 用户名或密码错误" : `HTTP ${res.status}`;
});
