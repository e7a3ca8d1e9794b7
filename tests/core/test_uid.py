import pytest

from gate.core.errors import InputError
from gate.core.uid import normalize_uid


@pytest.mark.parametrize("raw,expected", [
    ("deadbeef", "DEADBEEF"),
    ("DE:AD:BE:EF", "DEADBEEF"),
    ("de-ad-be-ef", "DEADBEEF"),
    ("04:a2:2b:c2:1e:61:80", "04A22BC21E6180"),
])
def test_valid_uids_normalise(raw, expected):
    assert normalize_uid(raw) == expected


@pytest.mark.parametrize("raw,message", [
    ("", "must be hexadecimal"),
    ("xyz12345", "must be hexadecimal"),
    ("DEADBE", "must be 4 or 7 bytes, got 3"),
    ("DEADBEEF0", "must be 4 or 7 bytes"),
    ("DEADBEEF00", "must be 4 or 7 bytes, got 5"),
])
def test_invalid_uids_are_named(raw, message):
    with pytest.raises(InputError) as err:
        normalize_uid(raw)
    assert message in str(err.value) and repr(raw) in str(err.value)
