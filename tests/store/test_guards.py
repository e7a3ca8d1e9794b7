"""The guard store: scrypt-hashed PINs and duress PINs in SQLite."""
from __future__ import annotations

import sqlite3

import pytest

from gate.core.errors import InputError, StorageError
from gate.store.guards import GuardExists, GuardInfo, GuardStore, pin_weakness


@pytest.fixture
def store(tmp_path):
    with GuardStore(tmp_path / "registry.db") as s:
        yield s


def test_verify_pin_and_duress_pin(store):
    store.add("g-anna", "4711", duress_pin="4712")
    store.add("g-bo", "583920")
    assert store.verify("4711") == ("g-anna", False)
    assert store.verify("4712") == ("g-anna", True)
    assert store.verify("583920") == ("g-bo", False)
    assert store.verify("0000") is None
    assert store.verify("") is None and store.verify("47a1") is None


def test_pins_are_stored_hashed_with_a_salt_per_pin(store, tmp_path):
    store.add("g-anna", "4711", duress_pin="4712")
    store.add("g-bo", "4711" + "99")
    raw = (tmp_path / "registry.db").read_bytes()
    for pin in (b"4711", b"4712", b"471199"):
        assert pin not in raw
    db = sqlite3.connect(tmp_path / "registry.db")
    rows = db.execute("SELECT pin_salt, pin_hash, duress_salt FROM guards").fetchall()
    db.close()
    salts = [r[0] for r in rows] + [r[2] for r in rows if r[2]]
    assert len(set(salts)) == 3 and all(len(s) == 16 for s in salts)


@pytest.mark.parametrize("pin, problem", [
    ("123", "at least 4 digits"),
    ("12ab", "digits only"),
    ("1111", "one digit repeated"),
    ("1234", "consecutive"),
    ("8765", "consecutive"),
    ("1" * 13 + "2", "at most 12"),
])
def test_weak_pins_are_rejected_naming_the_problem(store, pin, problem):
    with pytest.raises(InputError, match=problem) as err:
        store.add("g-anna", pin)
    assert "g-anna" in str(err.value)
    assert store.list() == []


def test_min_length_is_configurable(store):
    with pytest.raises(InputError, match="at least 6 digits"):
        store.add("g-anna", "4711", min_length=6)
    store.add("g-anna", "471193", min_length=6)


def test_duress_pin_rules(store):
    with pytest.raises(InputError, match="duress PIN must differ"):
        store.add("g-anna", "4711", duress_pin="4711")
    with pytest.raises(InputError, match="duress PIN is one digit repeated"):
        store.add("g-anna", "4711", duress_pin="0000")


def test_a_pin_identifies_one_guard_only(store):
    store.add("g-anna", "4711", duress_pin="4712")
    with pytest.raises(InputError, match="PIN is already in use"):
        store.add("g-bo", "4711")
    with pytest.raises(InputError, match="duress PIN is already in use"):
        store.add("g-bo", "5820", duress_pin="4712")
    store.add("g-anna", "4712", duress_pin="4711", replace=True)  # a guard may swap her own PINs


def test_add_replaces_remove_and_list(store):
    store.add("g-bo", "5820")
    store.add("g-anna", "4711", duress_pin="4712")
    store.add("g-anna", "9350", replace=True, drop_duress=True)
    assert store.verify("4711") is None and store.verify("4712") is None
    assert store.verify("9350") == ("g-anna", False)
    listed = store.list()
    assert [g.guard_id for g in listed] == ["g-anna", "g-bo"]
    assert all(isinstance(g, GuardInfo) and not g.has_duress for g in listed)
    assert store.remove("g-anna") is True
    assert store.remove("g-anna") is False
    assert store.verify("9350") is None


def test_an_existing_guard_is_refused_and_a_duress_pin_never_dropped_silently(store):
    # B8: re-adding a guard used to replace her PINs and drop the duress PIN without a word.
    store.add("zhang", "246802", duress_pin="135791")
    with pytest.raises(GuardExists, match="guard zhang exists already \\(with a duress PIN\\); give --replace"):
        store.add("zhang", "246802")
    with pytest.raises(InputError, match="zhang has a duress PIN: give --duress with a new one .* or --no-duress"):
        store.add("zhang", "864200", replace=True)
    assert store.verify("246802") == ("zhang", False) and store.verify("135791") == ("zhang", True)
    store.add("zhang", "864200", duress_pin="975310", replace=True)
    assert store.verify("975310") == ("zhang", True) and store.verify("246802") is None
    store.add("zhang", "864200", replace=True, drop_duress=True)
    assert store.verify("975310") is None and not store.list()[0].has_duress


def test_bad_guard_id(store):
    with pytest.raises(InputError, match="guard id"):
        store.add(" bad id", "4711")


def test_another_process_sees_changes(tmp_path):
    path = tmp_path / "registry.db"
    with GuardStore(path) as daemon, GuardStore(path) as cli:
        assert daemon.verify("4711") is None
        cli.add("g-anna", "4711")
        assert daemon.verify("4711") == ("g-anna", False)


def test_close_twice_and_use_after_close(tmp_path):
    s = GuardStore(tmp_path / "registry.db")
    s.close()
    s.close()
    with pytest.raises(StorageError, match="closed"):
        s.list()


def test_unopenable_database_names_the_file(tmp_path):
    bad = tmp_path / "missing-dir" / "registry.db"
    with pytest.raises(StorageError, match="missing-dir"):
        GuardStore(bad)


def test_pin_weakness_accepts_ordinary_pins():
    assert pin_weakness("4711") is None
    assert pin_weakness("9012") is not None  # wraps around: still a run
