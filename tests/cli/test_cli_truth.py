"""gatectl tells the truth and never shows a traceback for an expected error: versions, help on every
option, storage dirs it cannot create, a closed pipe, a full disk, overwrites it refuses, record
types it knows, the station config check, one daemon per storage dir."""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gatefixture import GateProcess, wait_for

from gate.cli.main import build_parser
from gate.cli.record_types import RECORD_TYPES

REPO = Path(__file__).resolve().parents[2]


def gatectl(*args: str, stdin: str | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gate.cli", *args], capture_output=True, text=True,
                          input=stdin, timeout=60, cwd=REPO, **kw)


def offline_config(tmp_path: Path, storage: Path | str | None = None) -> Path:
    conf = tmp_path / "gate.toml"
    conf.write_text(f'[gate]\nid = "t"\ntimezone = "Asia/Shanghai"\n[storage]\ndir = "{storage or tmp_path / "state"}"\n'
                    '[hardware]\nmode = "simulated"\n[mqtt]\nenabled = false\n')
    return conf


def no_traceback(out: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in out.stderr and "Exception ignored" not in out.stderr, out.stderr


def test_version():
    out = gatectl("--version")
    assert out.returncode == 0 and re.fullmatch(r"gatectl \d+\.\d+\.\d+\n", out.stdout)


def _walk(parser: argparse.ArgumentParser, path: str):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, f"{path} {name}")
        elif not isinstance(action, (argparse._HelpAction,)):
            yield path, action


def test_every_option_and_argument_has_help_text():
    missing = [f"{path} {'/'.join(a.option_strings) or a.dest}" for path, a in _walk(build_parser(), "gatectl")
               if not a.help]
    assert missing == []


def test_events_type_is_checked_against_the_known_types(tmp_path):
    conf = offline_config(tmp_path)
    out = gatectl("events", "-c", str(conf), "--type", "bogus")
    assert out.returncode == 2 and "--type: unknown record type 'bogus'" in out.stderr and "forced_open" in out.stderr
    out = gatectl("events", "-c", str(conf), "--type", "forced_opn")
    assert out.returncode == 2 and "did you mean 'forced_open'?" in out.stderr
    assert gatectl("events", "-c", str(conf), "--type", "forced_open").returncode == 0
    assert "forced_open" in gatectl("events", "--help").stdout


def test_record_types_list_every_type_the_gate_writes():
    written = set()
    for path in (REPO / "gate").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        written |= set(re.findall(r'\b(?:Record|JournalNote)\(\s*"([a-z_]+)"', text))
        written |= set(re.findall(r'\.(?:record|append)\(\s*"([a-z_]+)"', text))
    assert written and written - set(RECORD_TYPES) == set()


def test_a_storage_dir_that_cannot_be_created_is_one_line_with_a_hint(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    conf = offline_config(tmp_path, blocker / "state")        # a folder under a file: ENOTDIR
    for args, stdin in ((("passes", "-c", str(conf), "add", "AABBCCDD", "--name", "X"), None),
                        (("guards", "-c", str(conf), "add", "zhang"), "246802\n"),
                        (("events", "-c", str(conf)), None)):
        out = gatectl(*args, stdin=stdin)
        no_traceback(out)
        assert out.returncode == 2 and f"storage.dir {blocker / 'state'}: cannot be created" in out.stderr


def _as_ordinary_user() -> list[str]:
    """A command prefix under which permissions apply: as root, setpriv drops the capabilities that
    let root write anywhere (the files stay root's, so the interpreter can still be run)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv (util-linux): cannot drop CAP_DAC_OVERRIDE")
    return [setpriv, "--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search"]


def test_a_storage_dir_the_user_may_not_create_names_it_and_the_fix(tmp_path):
    # B7: a non-root user whose storage.dir cannot be created got a PermissionError traceback.
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    conf = offline_config(tmp_path, locked / "gate")
    for args, stdin in ((("passes", "-c", str(conf), "add", "AABBCCDD", "--name", "X"), None),
                        (("guards", "-c", str(conf), "add", "zhang"), "246802\n")):
        out = subprocess.run([*_as_ordinary_user(), sys.executable, "-m", "gate.cli", *args], input=stdin,
                             capture_output=True, text=True, timeout=60, cwd=REPO)
        no_traceback(out)
        assert out.returncode == 2, out.stderr
        assert f"storage.dir {locked / 'gate'}: cannot be created by this user" in out.stderr
        assert "sudo install -d -o gate -g gate" in out.stderr


def test_a_closed_pipe_ends_quietly(tmp_path):
    conf = offline_config(tmp_path)
    for command in (f"{sys.executable} -m gate.cli doctor -c {conf} | head -1",
                    f"{sys.executable} -m gate.cli events --help | head -1"):
        out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60, cwd=REPO)
        no_traceback(out)
        assert out.stdout.count("\n") == 1


def test_a_full_disk_is_one_line(tmp_path):
    conf = offline_config(tmp_path)
    csv = tmp_path / "big.csv"
    csv.write_text("card,name\n" + "".join(f"C{i:07X},Resident {i}\n" for i in range(20_000)))

    def small_files():
        import resource
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (32 * 1024, 32 * 1024))

    out = subprocess.run([sys.executable, "-m", "gate.cli", "passes", "-c", str(conf), "import", str(csv)],
                         capture_output=True, text=True, timeout=60, cwd=REPO, preexec_fn=small_files)
    no_traceback(out)
    assert out.returncode == 1 and "registry.db" in out.stderr and "disk may be full" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_passes_add_of_an_existing_card_refuses_unless_replace(tmp_path):
    conf = str(offline_config(tmp_path))
    assert gatectl("passes", "-c", conf, "add", "DEADBEEF", "--name", "Wang Li", "--household", "3-201").returncode == 0
    out = gatectl("passes", "-c", conf, "add", "de:ad:be:ef", "--name", "Colons")
    assert out.returncode == 2 and "card DEADBEEF has a pass already (Wang Li, household 3-201)" in out.stderr
    assert "Wang Li" in gatectl("passes", "-c", conf, "list").stdout
    out = gatectl("passes", "-c", conf, "add", "de:ad:be:ef", "--name", "Colons", "--replace")
    assert out.returncode == 0 and out.stdout == "replaced DEADBEEF\n"
    listed = gatectl("passes", "-c", conf, "list").stdout
    assert "Colons" in listed and "3-201" not in listed


def test_guards_add_of_an_existing_guard_refuses_and_keeps_the_duress_pin(tmp_path):
    conf = str(offline_config(tmp_path))
    assert gatectl("guards", "-c", conf, "add", "zhang", "--duress", stdin="246802\n135791\n").returncode == 0
    out = gatectl("guards", "-c", conf, "add", "zhang", stdin="246802\n")
    assert out.returncode == 2 and "guard zhang exists already (with a duress PIN); give --replace" in out.stderr
    out = gatectl("guards", "-c", conf, "add", "zhang", "--replace", stdin="864200\n")
    assert out.returncode == 2 and "--no-duress" in out.stderr
    assert "duress PIN: yes" in gatectl("guards", "-c", conf, "list").stdout
    out = gatectl("guards", "-c", conf, "add", "zhang", "--replace", "--duress", stdin="864200\n975310\n")
    assert out.returncode == 0 and "PINs replaced for guard zhang with a duress PIN" in out.stdout


def test_bare_dates_mean_the_whole_day_in_the_gate_time_zone_everywhere(tmp_path):
    # B9: valid_until 2026-12-31 was the end of the day in Asia/Shanghai, quarantine --until 2026-12-31
    # midnight UTC. Now both last through the 31st in gate.timezone (16:00Z on the 31st).
    conf = str(offline_config(tmp_path))
    assert gatectl("passes", "-c", conf, "add", "DEADBEEF", "--name", "Li", "--valid-from", "2026-12-01",
                   "--valid-until", "2026-12-31").returncode == 0
    assert gatectl("passes", "-c", conf, "quarantine", "DEADBEEF", "--until", "2026-12-31").returncode == 0
    assert gatectl("households", "-c", conf, "quarantine", "3-201", "--until", "2026-12-31").returncode == 0
    import json
    p = json.loads(gatectl("passes", "-c", conf, "list", "--json").stdout)
    assert p["valid_from"] == "2026-11-30T16:00:00.000Z"
    assert p["valid_until"] == p["quarantine_until"] == "2026-12-31T16:00:00.000Z"
    h = json.loads(gatectl("households", "-c", conf, "list", "--json").stdout)
    assert h["quarantine_until"] == "2026-12-31T16:00:00.000Z"
    # one wording for every bad date
    for args in (("passes", "-c", conf, "add", "AABBCCDD", "--name", "X", "--valid-until", "31/12/2026"),
                 ("passes", "-c", conf, "quarantine", "DEADBEEF", "--until", "tomorrow"),
                 ("passes", "-c", conf, "add", "AABBCCDD", "--name", "X", "--valid-until", "2026-13-01")):
        out = gatectl(*args)
        assert out.returncode == 2 and "is not a date (YYYY-MM-DD) or an ISO 8601 date-time" in out.stderr


def test_check_config_validates_station_configs(tmp_path):
    out = gatectl("check-config", "config/station.example.toml")
    assert out.returncode == 0 and "ok (station config)" in out.stdout
    bad = tmp_path / "station.toml"
    bad.write_text('[station]\nstore = "s.db"\n[mqtt]\nprotocol = 5\nkeepalive = 2\nhostname = "x"\n'
                   '[gates."north"]\nsecret = "x"\n')
    out = gatectl("check-config", str(bad))
    assert out.returncode == 2
    assert "mqtt.hostname: unknown key (did you mean 'host'?)" in out.stderr
    assert "mqtt.keepalive_seconds: must be at least 5 seconds, got 2" in out.stderr
    assert "gates.north.secret_file: required" in out.stderr
    gate_looking = tmp_path / "odd.toml"
    gate_looking.write_text('[mqtt]\nport = 1883\n')           # neither kind by its tables: a gate config
    assert "station" not in gatectl("check-config", str(gate_looking)).stdout
    out = gatectl("check-config", "--station", str(gate_looking))
    assert out.returncode == 0 and "station config" in out.stdout
    old = tmp_path / "old.toml"
    old.write_text('[station]\nstore = "s.db"\n[mqtt]\nprotocol = 5\nkeepalive = 30\n')
    out = gatectl("check-config", str(old))
    assert out.returncode == 0 and "mqtt.keepalive: deprecated spelling; write keepalive_seconds" in out.stderr


def test_one_daemon_per_storage_dir(tmp_path, broker):
    # B6: a second run/demo on the same config knocked the first off the broker and deleted its socket.
    gate = GateProcess(tmp_path, port=broker.port)
    with gate.start():
        first = gate.pid
        for command in ("run", "demo"):
            out = gatectl(command, "-c", str(gate.config))
            assert out.returncode == 2, out.stderr
            assert f"another gate daemon (pid {first}) runs on this storage dir" in out.stderr
        assert gate.sim("state")["lock"] == "locked"           # the first is untouched
        assert gatectl("passes", "-c", str(gate.config), "add", "DEADBEEF", "--name", "Li").returncode == 0
        assert len(gate.records_of("daemon_started")) == 1
        assert not gate.records_of("daemon_stopped")
    gate.start()                                               # the lock died with the process
    wait_for(lambda: len(gate.records_of("daemon_started")) == 2, 5, "second start")
    gate.stop()


@pytest.mark.parametrize("encoding, shown", [("utf-8", "UTF-8"), ("utf-8-sig", "UTF-8"), ("gbk", "GB18030"),
                                              ("gb18030", "GB18030")])
def test_csv_in_utf8_with_or_without_bom_or_gbk_is_read(tmp_path, encoding, shown):
    # B9: a GBK file gave "cannot read: 'utf-8' codec can't decode byte 0xd5 in position 29".
    conf = str(offline_config(tmp_path))
    passes = tmp_path / "p.csv"
    passes.write_bytes("card,name,household\nDEADBEEF,王丽,3-201\nCAFEF00D,赵敏,3-202\n".encode(encoding))
    out = gatectl("passes", "-c", conf, "import", str(passes))
    assert out.returncode == 0 and out.stdout == f"imported 2 passes from {passes} ({shown})\n", out.stderr
    assert "王丽" in gatectl("passes", "-c", conf, "list").stdout
    homes = tmp_path / "h.csv"
    homes.write_bytes("household,name\n3-201,王家\n".encode(encoding))
    out = gatectl("households", "-c", conf, "import", str(homes))
    assert out.returncode == 0 and f"({shown})" in out.stdout
    assert "王家" in gatectl("households", "-c", conf, "list").stdout


def test_csv_in_neither_encoding_names_the_line(tmp_path):
    conf = str(offline_config(tmp_path))
    bad = tmp_path / "p.csv"
    bad.write_bytes(b"card,name\nDEADBEEF,Li\nCAFEF00D,Zh\xff\xfe\n")
    out = gatectl("passes", "-c", conf, "import", str(bad))
    no_traceback(out)
    assert out.returncode == 2
    assert f"{bad} line 3: byte 0xff at column 12 is neither UTF-8 nor GB18030/GBK text" in out.stderr
    assert gatectl("passes", "-c", conf, "list").stdout == ""            # nothing imported


def test_latin1_that_happens_to_decode_as_gbk_is_refused_naming_the_line(tmp_path):
    # "Müller" in Latin-1 is valid GB18030 ("M黮ler"): auto-detection must not import it as that.
    conf = str(offline_config(tmp_path))
    bad = tmp_path / "p.csv"
    bad.write_bytes("card,name\nDEADBEEF,Li\nCAFEF00D,Müller\n".encode("latin-1"))
    out = gatectl("passes", "-c", conf, "import", str(bad))
    assert out.returncode == 2
    assert f"{bad} line 3: byte 0xfc at column 11 is not UTF-8; as GBK it would read '黮'" in out.stderr
    assert gatectl("passes", "-c", conf, "list").stdout == ""
    out = gatectl("passes", "-c", conf, "import", str(bad), "--encoding", "gb18030")   # the user says so
    assert out.returncode == 0 and "(GB18030)" in out.stdout


def test_demo_hints_are_copy_paste_correct(monkeypatch):
    # B3: the hints tapped without a temperature (an invisible refusal) and used a bare `gatectl`
    from gate.cli.demo import demo_hints

    monkeypatch.setattr(sys, "argv", [".venv/bin/gatectl", "demo"])
    hints = demo_hints("config/simulated.toml", 5)
    lines = [line.strip() for line in hints.splitlines()]
    commands = [line for line in lines if line.startswith(".venv/bin/gatectl ")]
    assert commands[0].startswith(".venv/bin/gatectl passes -c config/simulated.toml add DEADBEEF")
    assert commands[1] == ".venv/bin/gatectl sim -c config/simulated.toml temp 36.6"
    assert commands[2].startswith(".venv/bin/gatectl sim -c config/simulated.toml tap DEADBEEF && ")
    assert "releases the lock for 5 s" in hints
    monkeypatch.setattr(sys, "argv", ["/somewhere/else/python", "-m", "gate.cli"])
    assert f"{sys.executable} -m gate.cli sim" in demo_hints("c.toml", 5)
