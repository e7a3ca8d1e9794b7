"""gatectl passes / households: the interface §1 commands keep working, the new ones do what they say."""
from __future__ import annotations

import json

import pytest

from gate.cli.main import main
from gate.store.passes import PassStore
from gate.store.households import HouseholdStore


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "gate.toml"
    path.write_text('[gate]\ntimezone = "Asia/Shanghai"\n[storage]\ndir = "state"\n')
    return str(path)


def gatectl(cfg, *argv):
    return main([argv[0], "-c", cfg, *argv[1:]])


def test_interface_pass_commands(cfg, tmp_path, capsys):
    assert gatectl(cfg, "passes", "add", "de:ad:be:ef", "--name", "Li", "--household", "3-501",
                   "--valid-from", "2026-01-01", "--valid-until", "2027-01-01T00:00:00Z") == 0
    assert gatectl(cfg, "passes", "list", "--json") == 0
    row = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (row["card"], row["household"], row["valid_until"]) == ("DEADBEEF", "3-501", "2027-01-01T00:00:00.000Z")
    csv_path = tmp_path / "p.csv"
    csv_path.write_text("card,name\n01020304,Wang\nbad,Zhao\n")
    assert gatectl(cfg, "passes", "import", str(csv_path)) == 2
    assert "line 3" in capsys.readouterr().err
    csv_path.write_text("card,name\n01020304,Wang\n")
    assert gatectl(cfg, "passes", "import", str(csv_path)) == 0
    assert gatectl(cfg, "passes", "revoke", "01020304") == 0
    capsys.readouterr()
    assert gatectl(cfg, "passes", "export") == 0
    out = capsys.readouterr().out
    assert "DEADBEEF" in out and "01020304" not in out


def test_visitor_pass_needs_an_end(cfg, tmp_path, capsys):
    assert gatectl(cfg, "passes", "visitor", "01020304", "--name", "Aunt Wang", "--household", "3-501",
                   "--from", "2026-12-01T09:00:00+08:00", "--hours", "4") == 0
    with PassStore(tmp_path / "state" / "registry.db") as store:
        p = store.get("01020304")
    assert p.pass_type == "visitor" and (p.valid_until - p.valid_from).total_seconds() == 4 * 3600
    assert gatectl(cfg, "passes", "visitor", "01020305", "--name", "X") == 2
    assert "--until/--hours" in capsys.readouterr().err


def test_quarantine_commands_and_household_csv(cfg, tmp_path, capsys):
    gatectl(cfg, "passes", "add", "DEADBEEF", "--name", "Li", "--household", "3-501")
    assert gatectl(cfg, "passes", "quarantine", "DEADBEEF", "--days", "14") == 0
    assert gatectl(cfg, "passes", "quarantine", "0BADCAFE", "--days", "14") == 2
    assert gatectl(cfg, "households", "add", "3-501", "--name", "Li family") == 0
    assert gatectl(cfg, "households", "quarantine", "3-501", "--until", "2026-12-13T10:00:00+08:00") == 0
    csv_path = tmp_path / "h.csv"
    csv_path.write_text("household,name\n1-1,Zhao\n1-1,Qian\n")
    assert gatectl(cfg, "households", "import", str(csv_path)) == 2
    assert "line 3: household 1-1 already on line 2" in capsys.readouterr().err
    with HouseholdStore(tmp_path / "state" / "registry.db") as hs:
        assert hs.get("1-1") is None
        assert hs.get("3-501").quarantine_until.isoformat() == "2026-12-13T02:00:00+00:00"
    assert gatectl(cfg, "households", "export") == 0
    assert "3-501,Li family,,2026-12-13T02:00:00.000Z" in capsys.readouterr().out
    assert gatectl(cfg, "households", "quarantine", "3-501", "--lift") == 0
    assert gatectl(cfg, "households", "list", "--json") == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["quarantine_until"] is None


def test_check_config_reports_rules_problems(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[rules]\nanti_passback = "strict"\nquota_anchor = "monday"\n'
                    '[rules.schedules]\nworker = ["weekdays 8-18"]\n')
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "rules.anti_passback: must be one of" in err
    assert "rules.quota_anchor: must be a date" in err
    assert "rules.schedules.worker: window 'weekdays 8-18'" in err
