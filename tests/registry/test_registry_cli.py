"""`gatectl station passes ...` errors: each names the thing, and a failed change leaves no version."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gate.runtime.local_broker import free_port
from gate.station.registry import StationRegistry


def station(toml: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gate.cli", "station", "-c", str(toml), "passes", *args],
                          capture_output=True, text=True, timeout=60)


def config(tmp: Path, port: int) -> Path:
    secret = tmp / "north.secret"
    secret.write_text("north-secret-0123456789abcdef0123456789\n")
    toml = tmp / "station.toml"
    toml.write_text(f'[station]\nstore = "{tmp / "station.db"}"\n[mqtt]\nport = {port}\n'
                    f'[gates."north"]\nsecret_file = "{secret}"\ncompound = "gucun-47"\n')
    return toml


def test_unknown_compound_bad_line_and_no_broker(tmp_path):
    toml = config(tmp_path, free_port())            # nothing listens there
    out = station(toml, "status", "--compound", "gucun-48")
    assert out.returncode == 2 and "gucun-48" in out.stderr and "gucun-47" in out.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("card,name\nDEADBEEF,Wang Li\nNOTHEX,Zhao Min\n", encoding="utf-8")
    out = station(toml, "import", str(bad), "--compound", "gucun-47")
    assert out.returncode == 2 and "line 3" in out.stderr
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("card,name\nDEADBEEF,王丽\n".encode("gb18030"))
    out = station(toml, "import", str(gbk), "--compound", "gucun-47")
    assert out.returncode == 3, out.stdout + out.stderr     # stored, but the broker is away
    assert "GB18030" in out.stdout and "NOT published" in out.stdout and "passes sync" in out.stdout
    with StationRegistry(tmp_path / "station.db") as reg:
        assert reg.current("gucun-47").version == 1 and reg.rows("gucun-47")[0][1] == "王丽"
    out = station(toml, "revoke", "11223344", "--compound", "gucun-47")
    assert out.returncode == 2 and "11223344" in out.stderr
