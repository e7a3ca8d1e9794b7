"""The station's versioned registry and the gate's replica: versions, hashes, all-or-nothing, apply."""
from __future__ import annotations

import hashlib

import pytest

from gate.core.errors import InputError
from gate.core.passes import make_pass, parse_pass_csv
from gate.core.csvtext import decode_csv
from gate.core.registry import (build_manifest, check_manifest, chunk_bodies, content_hash, manifest_signed,
                                sign_manifest)
from gate.station.registry import StationRegistry
from gate.store.passes import PassStore
from gate.store.registry_replica import RegistryReplica

CSV = "card,name,household\nDEADBEEF,Wang Li,3-201\nCAFEF00D,Zhao Min,3-201\n"


def test_every_change_is_a_new_version_whose_hash_names_the_content(tmp_path):
    with StationRegistry(tmp_path / "station.db") as reg:
        v1 = reg.import_passes("gucun-47", parse_pass_csv(CSV))
        assert (v1.version, v1.count) == (1, 2)
        assert v1.hash == content_hash(reg.rows("gucun-47"))
        v2 = reg.add("gucun-47", make_pass("11223344", "Li Na"))
        v3 = reg.revoke("gucun-47", "DEADBEEF")
        assert [v2.version, v3.version] == [2, 3]
        assert len({v1.hash, v2.hash, v3.hash}) == 3
        assert [r[0] for r in reg.rows("gucun-47") if r[6]] == ["DEADBEEF"]
        # another compound has its own numbering
        assert reg.import_passes("other", parse_pass_csv(CSV)).version == 1
        assert reg.import_passes("other", parse_pass_csv(CSV)).hash == v1.hash   # same content, same hash


def test_a_bad_csv_line_changes_nothing_and_names_the_line(tmp_path):
    with StationRegistry(tmp_path / "station.db") as reg:
        reg.import_passes("c", parse_pass_csv(CSV))
        with pytest.raises(InputError, match="line 3"):
            reg.import_passes("c", parse_pass_csv("card,name\nDEADBEEF,Wang Li\nXYZ,Bad\n", "f.csv"))
        assert reg.current("c").version == 1 and len(reg.rows("c")) == 2


def test_gb18030_csv_from_excel_is_read(tmp_path):
    data = "card,name,household\nDEADBEEF,王丽,3-201\n".encode("gb18030")
    text, encoding = decode_csv(data, "x.csv")
    assert encoding == "GB18030" and parse_pass_csv(text)[0].name == "王丽"
    assert decode_csv(b"\xef\xbb\xbf" + "card,name\nDEADBEEF,王丽\n".encode(), "x.csv")[1] == "UTF-8"


def test_revoking_an_unknown_or_revoked_card_makes_no_version(tmp_path):
    with StationRegistry(tmp_path / "station.db") as reg:
        reg.import_passes("c", parse_pass_csv(CSV))
        reg.revoke("c", "DEADBEEF")
        for card in ("DEADBEEF", "99999999"):
            with pytest.raises(InputError, match=card):
                reg.revoke("c", card)
        assert reg.current("c").version == 2


def test_manifest_signature_covers_every_field():
    rows = [["DEADBEEF", "Wang Li", None, "resident", None, None, False]]
    bodies = chunk_bodies(rows)
    m = sign_manifest(build_manifest("c", "g1", 4, content_hash(rows), 1, bodies, "2026-12-01T00:00:00.000Z"), b"k")
    assert manifest_signed(m, b"k") and check_manifest(m, "g1")
    assert not manifest_signed(m, b"other key")
    assert not manifest_signed({**m, "version": 5}, b"k")
    with pytest.raises(InputError, match="gate"):
        check_manifest(m, "g2")
    assert m["chunks"] == [hashlib.sha256(bodies[0]).hexdigest()]


def test_replica_applies_exactly_the_version_and_keeps_quarantine(tmp_path):
    path = tmp_path / "registry.db"
    with PassStore(path) as passes:
        passes.upsert_many(parse_pass_csv("card,name\nAAAAAAAA,Local\nDEADBEEF,Wang Li\n"))
        from datetime import datetime, timezone
        passes.set_quarantine("DEADBEEF", datetime(2030, 1, 1, tzinfo=timezone.utc))
        rows = [["CAFEF00D", "Zhao Min", "3-201", "resident", None, None, False],
                ["DEADBEEF", "Wang Li", "3-201", "resident", None, None, True]]
        with RegistryReplica(path) as replica:
            result = replica.apply("c", 7, content_hash(rows), rows)
            assert replica.held() == {"compound": "c", "version": 7, "hash": content_hash(rows), "count": 2}
        assert result == {"written": 2, "deleted": 1, "count": 2}
        assert passes.get("AAAAAAAA") is None                          # not in the version: gone
        assert passes.get("DEADBEEF").revoked and passes.get("DEADBEEF").quarantine_until is not None
        assert passes.get("CAFEF00D").household == "3-201"
