"""Test helpers for the web console: the real app and consumer (`serve`'s parts) run in-process with
uvicorn on a free loopback port; an httpx client that logs in; a headless Chromium (Debian's, driven by
Playwright from PyPI; never `playwright install`)."""
from __future__ import annotations

import threading
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx

from broker import free_port
from gatefixture import wait_for

from gate.station.accounts import Accounts
from gate.station.config import GateInfo, StationConfig, WebConfig
from gate.station.web.app import create_app
from gate.station.web.events import EventHub
from gate.station.web.server import ConsoleServer as UvicornServer
from gate.station.web.server import LinkSupervisor, build_console, uvicorn_config

PASSWORD = "correct horse battery"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--autoplay-policy=no-user-gesture-required"]


def console_config(tmp_path: Path, broker_port: int, gates: dict[str, tuple[Path, GateInfo]], **overrides) -> StationConfig:
    """A station config for gates {id: (secret file, GateInfo)} with a fresh store and short timers."""
    values = dict(client_id=f"console-{uuid.uuid4().hex[:6]}", store=str(tmp_path / "station.db"), port=broker_port,
                  grace_seconds=0.2, retry_initial_seconds=0.5, retry_max_seconds=2.0, result_timeout_seconds=5.0,
                  gate_secrets={g: str(s) for g, (s, _) in gates.items()},
                  gate_info={g: info for g, (_, info) in gates.items()},
                  timezone="Asia/Shanghai", web=WebConfig(port=free_port()))
    values.update(overrides)
    return StationConfig(**values)


class ConsoleServer:
    """`serve` in-process: LinkSupervisor + the Starlette app on uvicorn in a thread."""

    def __init__(self, cfg: StationConfig):
        self.cfg = cfg
        self.hub = EventHub()
        self.link = LinkSupervisor(cfg, self.hub, connect_timeout=2.0)
        self.console = build_console(cfg, self.link)
        self.server = UvicornServer(uvicorn_config(create_app(self.console), cfg), self.hub)
        self._thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.cfg.web.port}"

    def start(self, *, wait_broker: bool = True) -> "ConsoleServer":
        self.link.start()
        self._thread.start()
        wait_for(lambda: self.server.started, 10, "uvicorn started")
        if wait_broker:
            wait_for(lambda: self.link.consumer is not None and self.link.consumer.is_connected, 10, "console on broker")
        return self

    def add_officer(self, name: str, role: str = "officer", compound: str = "", password: str = PASSWORD) -> None:
        with Accounts(self.cfg.store) as accounts:
            accounts.add_officer(name, password, role=role, compound=compound)

    def close(self) -> None:
        self.server.stop()
        self._thread.join(10)
        self.link.stop()
        for db in (self.console.store, self.console.accounts, self.console.snapshots):
            db.close()

    def __enter__(self) -> "ConsoleServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def logged_in(server: ConsoleServer, user: str, password: str = PASSWORD) -> httpx.Client:
    """An httpx client with a session; its CSRF token is sent on every request."""
    client = httpx.Client(base_url=server.url, timeout=15)
    r = client.post("/api/login", json={"user": user, "password": password})
    assert r.status_code == 200, r.text
    client.headers["X-CSRF-Token"] = r.json()["csrf"]
    return client


@contextmanager
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def browser_login(page, server: ConsoleServer, user: str, password: str = PASSWORD, *, link: str = "ok") -> None:
    page.goto(server.url + "/login")
    page.fill("#login-user", user)
    page.fill("#login-password", password)
    page.click("#login-submit")
    page.wait_for_url(server.url + "/", timeout=10_000)
    page.wait_for_selector(f"#link-state.{link}", timeout=10_000)
