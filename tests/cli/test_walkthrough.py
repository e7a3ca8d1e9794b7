"""The README's walkthrough, end to end: a real `gatectl run` on a simulated gate, the real CLI,
a real mosquitto, and what reaches the station."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

from gatefixture import GateProcess, StationClient, wait_for


def gatectl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gate.cli", *args], capture_output=True, text=True,
                          input=stdin, timeout=60)


def events(gate: GateProcess) -> list[dict]:
    out = gatectl("events", "-c", str(gate.config), "--json")
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def types_after(gate: GateProcess, seq: int) -> list[str]:
    return [r["type"] for r in events(gate) if r["seq"] > seq]


def test_resident_path_refusals_and_forced_opening_reach_the_station(tmp_path, broker):
    gate = GateProcess(tmp_path, port=broker.port, extra_toml="[screening]\nmode = \"off\"\n"
                       "[hardware.thermometer]\nenabled = false\n")
    with gate.start(), StationClient(broker.port) as station:
        cfg = str(gate.config)
        assert gatectl("passes", "-c", cfg, "add", "de:ad:be:ef", "--name", "Wang Li", "--household", "3-201").returncode == 0
        past = (datetime.now(timezone.utc) - timedelta(days=1)).date().isoformat()
        assert gatectl("passes", "-c", cfg, "add", "11223344", "--name", "Old", "--valid-until", past).returncode == 0
        assert gatectl("passes", "-c", cfg, "add", "55667788", "--name", "Gone").returncode == 0
        assert gatectl("passes", "-c", cfg, "revoke", "55667788").returncode == 0

        start = gate.last_seq()
        assert gatectl("sim", "-c", cfg, "tap", "DEADBEEF").returncode == 0
        wait_for(lambda: gate.sim("state")["lock"] == "unlocked", 5, "lock released")
        granted = wait_for(lambda: gate.records_of("access_granted"), 5, "access_granted journaled")[-1]
        assert granted["card"] == "DEADBEEF" and granted["name"] == "Wang Li" and granted["household"] == "3-201"
        state = json.loads(gatectl("sim", "-c", cfg, "state").stdout)
        assert state["lock"] == "unlocked" and state["mode"] == "normal"

        gate.sim("door", position="open")
        gate.sim("door", position="close")
        wait_for(lambda: gate.sim("state")["lock"] == "locked", 5, "relocked after the door closed")
        assert types_after(gate, start) == ["access_granted", "door_opened", "door_closed", "relocked"]

        for card, reason in (("0BADCAFE", "unknown_card"), ("11223344", "expired"), ("55667788", "revoked")):
            # one card at a time: two in the field at once collide and neither is read (by design)
            wait_for(lambda: not gate.sim("state")["cards_in_field"], 5, "the previous card left")
            gate.sim("tap", uid=card)
            wait_for(lambda: any(r.get("card") == card for r in gate.records_of("access_refused")), 5, f"{card} refused")
            refusal = [r for r in gate.records_of("access_refused") if r["card"] == card][-1]
            assert refusal["reason"] == reason
        assert gate.sim("state")["lock"] == "locked"

        gate.sim("door", position="open")
        wait_for(lambda: gate.records_of("forced_open"), 5, "forced_open journaled")
        alarm = wait_for(lambda: [a for a in station.on("alarm") if a["type"] == "forced_open"], 5, "forced_open at the station")[0]
        assert alarm["gate"] == "test-gate" and alarm["historical"] is False
        wait_for(lambda: station.has_seqs(start + 1, gate.last_seq()), 10, "every record since the station subscribed")
        refusals = [r for r in station.on("event") if r["type"] == "access_refused"]
        assert {r["reason"] for r in refusals} == {"unknown_card", "expired", "revoked"}


def test_seq_continues_after_sigkill_without_gap_or_repeat(tmp_path, broker):
    gate = GateProcess(tmp_path, port=broker.port)
    try:
        gate.start()
        gate.sim("exit")
        wait_for(lambda: gate.records_of("exit_request"), 5, "exit journaled")
        before = gate.last_seq()
        gate.kill()
        gate.start()
        gate.sim("exit")
        wait_for(lambda: len(gate.records_of("exit_request")) == 2, 5, "second exit journaled")
    finally:
        gate.stop()
    seqs = [r["seq"] for r in events(gate)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) > before
    ids = [r["id"] for r in events(gate)]
    assert len(set(ids)) == len(ids)


def test_sim_without_a_daemon_says_so(tmp_path):
    gate = GateProcess(tmp_path, port=1)
    out = gatectl("sim", "-c", str(gate.config), "state")
    assert out.returncode != 0
    assert "no gate daemon is running" in out.stderr


def test_fever_refusal_from_the_demo_commands(tmp_path, broker):
    gate = GateProcess(tmp_path, port=broker.port)
    with gate.start(), StationClient(broker.port) as station:
        cfg = str(gate.config)
        assert gatectl("passes", "-c", cfg, "add", "DEADBEEF", "--name", "Wang Li").returncode == 0
        assert gatectl("sim", "-c", cfg, "temp", "38.1").returncode == 0
        assert gatectl("sim", "-c", cfg, "tap", "DEADBEEF").returncode == 0
        refusal = wait_for(lambda: gate.records_of("access_refused"), 10, "fever refusal")[0]
        assert refusal["reason"] == "fever" and 38.0 <= refusal["temperature_c"] <= 38.2
        fever = gate.records_of("fever")[0]
        assert fever["card"] == "DEADBEEF"
        assert wait_for(lambda: [a for a in station.on("alarm") if a["type"] == "fever"], 5, "fever alarm at the station")
        assert gate.sim("state")["lock"] == "locked"


def start_online(gate: GateProcess, station: StationClient) -> None:
    """Start the daemon and wait until it announced itself online (it subscribes to its commands first)."""
    seen = len([s for s in station.on("status") if s.get("online")])
    gate.start()
    wait_for(lambda: len([s for s in station.on("status") if s.get("online")]) > seen, 10, "gate online")


def test_lockdown_survives_a_restart(tmp_path, broker):
    gate = GateProcess(tmp_path, port=broker.port)
    try:
        with StationClient(broker.port) as station:
            start_online(gate, station)
            assert station.wait_result(station.send(station.command("lockdown", on=True)))["ok"] is True
            wait_for(lambda: gate.sim("state")["mode"] == "lockdown", 5, "lockdown on")
            gate.kill()  # a power cut
            start_online(gate, station)
            assert gate.sim("state")["mode"] == "lockdown"
            assert gate.records_of("lockdown_restored")
            assert station.wait_result(station.send(station.command("lockdown", on=False)))["ok"] is True
            wait_for(lambda: gate.sim("state")["mode"] == "normal", 5, "lockdown off")
            gate.stop()
            gate.start()
            assert gate.sim("state")["mode"] == "normal"
    finally:
        gate.stop()


# --- the README's walkthrough, word for word ------------------------------------------------------
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from broker import MosquittoBroker  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
_COMMENT = re.compile(r"\s+#\s+(.*)$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=\S+$")


def readme_walkthrough() -> list[tuple[str, list[str]]]:
    """(command line, the outputs its comment promises) for each line of the README's walkthrough
    block: the sh block of '## A walkthrough' that begins with an assignment (C=...)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## A walkthrough", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    block = next(b for b in blocks if _ASSIGNMENT.match(b.splitlines()[0]))
    lines = []
    for line in block.splitlines():
        if not line.strip():
            continue
        m = _COMMENT.search(line)
        command = line[:m.start()] if m else line
        promised = [part.strip() for part in m.group(1).split(" | ")] if m else []
        lines.append((command.strip(), promised))
    return lines


def demo_workdir(tmp: Path, port: int) -> Path:
    """The repository's two demo configs in a folder of their own, only the broker port changed."""
    (tmp / "config").mkdir(parents=True)
    for name in ("simulated.toml", "station-demo.toml"):
        text = (REPO / "config" / name).read_text(encoding="utf-8")
        (tmp / "config" / name).write_text(text.replace("port = 1883", f"port = {port}"), encoding="utf-8")
    return tmp


def run_walkthrough(workdir: Path, pause: float) -> list[str]:
    """Run the block line by line in `workdir` with the venv's gatectl on PATH; returns problems."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    assert shutil.which("gatectl", path=env["PATH"]), "gatectl is not installed in this venv"
    lines = readme_walkthrough()
    preamble = "; ".join(cmd for cmd, _ in lines if _ASSIGNMENT.match(cmd))
    problems = []
    for i, (command, promised) in enumerate(cmd for cmd in lines if not _ASSIGNMENT.match(cmd[0])):
        if i and pause:
            time.sleep(pause)          # the typing pace under test, not a synchronisation
        out = subprocess.run(["bash", "-c", f"{preamble}; {command}"], cwd=workdir, env=env,
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            problems.append(f"{command!r}: exit {out.returncode}: {out.stderr.strip()}")
            continue
        pos = 0
        for expected in promised:
            found = out.stdout.find(expected, pos)
            if found < 0:
                problems.append(f"{command!r}: expected {expected!r}, printed {out.stdout!r}")
                break
            pos = found + len(expected)
    return problems


def walkthrough_at(tmp: Path, pause: float, results: dict) -> None:
    broker = MosquittoBroker().start()
    demo = None
    try:
        workdir = demo_workdir(tmp, broker.port)
        env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        log = open(tmp / "demo.log", "wb")
        demo = subprocess.Popen(["gatectl", "demo", "-c", "config/simulated.toml"], cwd=workdir, env=env,
                                stdout=log, stderr=log)
        log.close()
        socket_path = workdir / "run" / "sim" / "control.sock"

        def keypad_online() -> bool:
            if demo.poll() is not None:
                raise AssertionError((tmp / "demo.log").read_text())
            if not socket_path.exists():
                return False
            from gate.runtime.simcontrol import send_control
            try:
                return bool(send_control(socket_path.parent, "state", {}).get("keypad_online"))
            except Exception:
                return False

        wait_for(keypad_online, 30, "the demo gate with its OSDP keypad online")
        results[pause] = run_walkthrough(workdir, pause)
    except BaseException as exc:  # reported by the test thread
        results[pause] = [f"{type(exc).__name__}: {exc}"]
    finally:
        if demo is not None and demo.poll() is None:
            os.kill(demo.pid, signal.SIGINT)
            try:
                demo.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(demo.pid, signal.SIGKILL)
                demo.wait(5)
        broker.close()


def test_readme_walkthrough_word_for_word_back_to_back_and_3_s_apart(tmp_path):
    lines = readme_walkthrough()
    # every line runs (exit 0); a line with a comment must print what it promises
    assert sum(1 for _, promised in lines if promised) >= 10
    results: dict = {}
    runs = [threading.Thread(target=walkthrough_at, args=(tmp_path / name, pause, results))
            for name, pause in (("fast", 0.0), ("slow", 3.0))]
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=240)
    assert results.get(0.0) == [], f"back to back: {results.get(0.0)}"
    assert results.get(3.0) == [], f"3 s apart: {results.get(3.0)}"
