"""sd_notify: the client against a real unix datagram socket, and `gatectl run` under a fake systemd."""
from __future__ import annotations

import os
import signal

import pytest

from gate.runtime.sdnotify import Notifier, watchdog_interval
from gate.runtime.simcontrol import send_sim
from daemonkit import NotifyListener, start_gate, stop_gate, write_sim_config  # noqa: E402











# --- the client ------------------------------------------------------------------------------------
def test_not_under_systemd_every_call_is_a_no_op():
    n = Notifier.from_env({})
    assert not n.enabled
    assert n.ready() is False and n.watchdog() is False and n.stopping() is False and n.status("x") is False
    n.close()
    n.close()


def test_state_lines_reach_a_path_socket(tmp_path):
    listener = NotifyListener(tmp_path / "notify.sock")
    try:
        with Notifier.from_env({"NOTIFY_SOCKET": listener.env_value}) as n:
            assert n.ready("gate up")
            msg = listener.receive(5)
            assert msg["READY"] == "1" and msg["STATUS"] == "gate up" and msg["MAINPID"] == str(os.getpid())
            assert n.status("line one\nline two")
            assert listener.receive(5) == {"STATUS": "line one line two"}
            assert n.reloading()
            msg = listener.receive(5)
            assert msg["RELOADING"] == "1" and int(msg["MONOTONIC_USEC"]) > 0
            assert n.stopping()
            assert listener.receive(5)["STOPPING"] == "1"
    finally:
        listener.close()


def test_abstract_namespace_socket():
    listener = NotifyListener(abstract=True)
    try:
        with Notifier.from_env({"NOTIFY_SOCKET": listener.env_value, "WATCHDOG_USEC": "2000000"}) as n:
            assert n.watchdog()
            assert listener.receive(5) == {"WATCHDOG": "1"}
    finally:
        listener.close()


def test_watchdog_interval_from_the_environment():
    assert watchdog_interval({"WATCHDOG_USEC": "10000000"}) == 10.0
    assert watchdog_interval({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())}) == 10.0
    # Meant for another process (we inherited the environment): not ours to ping.
    assert watchdog_interval({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid() + 1)}) is None
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}) is None


def test_watchdog_pings_are_rate_limited_on_the_injected_clock(tmp_path):
    listener = NotifyListener(tmp_path / "n.sock")
    now = [100.0]
    try:
        with Notifier(listener.env_value, watchdog_seconds=4.0, monotonic=lambda: now[0]) as n:
            assert n.watchdog()
            now[0] += 0.5
            assert not n.watchdog()  # within a quarter of the interval
            now[0] += 0.6
            assert n.watchdog()
            assert n.watchdog(force=True)
        assert [listener.receive(5) for _ in range(3)] == [{"WATCHDOG": "1"}] * 3
    finally:
        listener.close()


def test_a_vanished_socket_does_not_raise(tmp_path):
    listener = NotifyListener(tmp_path / "gone.sock")
    listener.close()
    (tmp_path / "gone.sock").unlink()
    with Notifier(str(tmp_path / "gone.sock")) as n:
        assert n.ready() is False


# --- the daemon under a fake systemd ----------------------------------------------------------------
def test_gatectl_run_notifies_ready_pings_the_watchdog_and_says_stopping(tmp_path):
    listener = NotifyListener(tmp_path / "notify.sock")
    proc = start_gate(write_sim_config(tmp_path), listener)
    try:
        ready = listener.wait_for("READY")
        assert ready["MAINPID"] == str(proc.pid)
        assert "test-gate" in ready["STATUS"]
        # READY comes after the hardware is up: the simulated gate answers on its control socket.
        assert send_sim(tmp_path / "state", "state", {})["lock"] == "locked"
        listener.wait_for("WATCHDOG", count=3)  # the main loop keeps pinging
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        listener.wait_for("STOPPING")
    finally:
        rc, out = stop_gate(proc)
        listener.close()
    assert rc == 0, out
    order = [next(iter(m)) for m in listener.messages if "STATUS" not in m or len(m) > 1]
    assert order.index("READY") < order.index("WATCHDOG") < order.index("STOPPING")


@pytest.mark.parametrize("key", ["NOTIFY_SOCKET", "WATCHDOG_USEC"])
def test_notify_environment_is_not_inherited_by_children(tmp_path, key, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "x.sock"))
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    n = Notifier.from_env(unset=True)
    try:
        assert n.enabled and key not in os.environ
    finally:
        n.close()


def test_watchdog_pings_come_from_the_main_loop_and_stop_when_it_stalls(tmp_path):
    import threading

    from gate.config.schema import load_config
    from gate.runtime.daemon import GateDaemon

    listener = NotifyListener(tmp_path / "notify.sock")
    notifier = Notifier(listener.env_value, watchdog_seconds=0.2)
    daemon = GateDaemon(load_config(write_sim_config(tmp_path)))
    stall, stalled, release = threading.Event(), threading.Event(), threading.Event()

    def stalling_hook():
        if stall.is_set():
            stalled.set()
            release.wait(10)

    daemon.loop_hooks += [notifier.watchdog, stalling_hook]
    daemon.start()
    stop = threading.Event()
    loop = threading.Thread(target=daemon.run, args=(stop,))
    loop.start()
    try:
        listener.wait_for("WATCHDOG", count=2, timeout=10)
        stall.set()
        assert stalled.wait(10)
        while listener.receive(0.01) is not None:  # drain what was sent before the stall
            pass
        assert listener.receive(0.6) is None, "a stalled loop must not ping the watchdog"
        stall.clear()
        release.set()
        assert listener.receive(10) == {"WATCHDOG": "1"}
    finally:
        release.set()
        stop.set()
        daemon.request_stop()
        loop.join(10)
        daemon.close()
        notifier.close()
        listener.close()
