"""The prompt vocabulary as a table: every refusal reason has a prompt, every message id has a text
in both languages, the committed catalogues are what Babel compiles from the .po files."""
from __future__ import annotations

import gettext

import pytest

from gate.core import prompts
from gate.core.prompts import MESSAGE_IDS, REFUSAL_PROMPTS, mask_name, message_for_record, message_for_signal
from gate.core.records import REFUSAL_REASONS
from gate.i18n import LANGUAGES, MissingCatalogue, catalogue_path, stale_catalogues, text, translator

# interface.md §4: "refusal reasons, at least"
INTERFACE_REASONS = ("unknown_card", "revoked", "expired", "not_yet_valid", "fever", "quarantine",
                     "quota_exceeded", "outside_hours", "screening_unavailable", "lockdown")


def _catalogue_ids(lang: str) -> set[str]:
    from babel.messages.pofile import read_po

    with open(catalogue_path(lang), "rb") as fp:
        return {m.id for m in read_po(fp) if m.id}


@pytest.mark.parametrize("reason", sorted(set(INTERFACE_REASONS) | set(REFUSAL_REASONS)))
def test_every_refusal_reason_has_a_prompt(reason):
    message = message_for_record("access_refused", {"reason": reason})
    assert message in MESSAGE_IDS
    if reason in INTERFACE_REASONS:  # each of the contract's reasons is told in its own words
        assert message != "refused", reason
    assert prompts.unprompted_reasons() == []


def test_the_interface_reasons_each_have_their_own_message():
    messages = [REFUSAL_PROMPTS[r] for r in INTERFACE_REASONS]
    assert len(set(messages)) == len(messages)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_id_has_a_text_in_each_language(lang):
    assert _catalogue_ids(lang) == set(MESSAGE_IDS)  # none missing, none left over
    for message_id in MESSAGE_IDS:
        said = text(message_id, lang)
        assert said and said != message_id, f"{lang}: {message_id} untranslated"
        has_cjk = any("\u4e00" <= ch <= "\u9fff" for ch in said)
        assert has_cjk == (lang == "zh-CN"), (lang, message_id, said)


def test_the_door_held_open_prompt_and_the_idle_screen_say_what_residents_expect():
    assert text("door_held_open", "zh-CN") == "请随手关门"
    assert text("idle", "zh-CN") == "请刷卡 Tap your pass"
    assert text("idle", "en") == "Tap your pass"


def test_the_committed_mo_files_are_what_babel_compiles():
    assert stale_catalogues() == [], "run: python -m gate.i18n compile"


def test_an_edited_po_without_a_fresh_mo_is_caught(tmp_path):
    import shutil

    from gate.i18n import LOCALE_DIR

    shutil.copytree(LOCALE_DIR, tmp_path / "locale")
    po = tmp_path / "locale" / "en" / "LC_MESSAGES" / "gate.po"
    po.write_text(po.read_text(encoding="utf-8").replace('"Please close the door"', '"Close the door, please"'),
                  encoding="utf-8")
    assert stale_catalogues(tmp_path / "locale") == [po]


def test_a_language_without_a_catalogue_is_named():
    with pytest.raises(MissingCatalogue, match="'fr'"):
        translator("fr")
    assert isinstance(translator("en"), gettext.GNUTranslations)


@pytest.mark.parametrize("record_type, fields, message", [
    ("access_granted", {"card": "A1", "name": "王小明"}, "granted"),
    ("access_refused", {"reason": "fever", "temperature_c": 38.4}, "fever"),
    ("access_refused", {"reason": "screening_unavailable", "detail": "fault: NACK"}, "refused_screening_unavailable"),
    ("access_refused", {"reason": "screening_unavailable", "detail": "no_person: nobody in front"}, "retest"),
    ("access_refused", {"reason": "forged_credential"}, "tap_again"),
    ("access_refused", {"reason": "a_reason_added_later"}, "refused"),
    ("override", {"guard": "g1", "source": "keypad"}, "guard_override"),
    ("held_open", {"seconds": 30}, "door_held_open"),
    ("fire_release", {}, "fire_release"),
    ("duress", {"guard": "g1"}, None),  # silent: a duress override must look like any other
    ("fever", {"temperature_c": 38.4}, None),  # the refusal beside it speaks
    ("door_opened", {}, None),
])
def test_records_map_to_their_messages(record_type, fields, message):
    assert message_for_record(record_type, fields) == message


def test_signals_without_records_map_to_messages():
    assert message_for_signal("retest") == "step_closer"
    assert message_for_signal("prealarm") == "door_held_open"
    assert message_for_signal("granted") is None  # its record speaks


def test_every_mapped_message_is_in_the_vocabulary():
    mapped = set(REFUSAL_PROMPTS.values()) | set(prompts.RECORD_PROMPTS.values()) | set(prompts.SIGNAL_PROMPTS.values())
    assert mapped <= set(MESSAGE_IDS)
    # and every message but the idle screen and "retest" (a refusal detail) is reachable from a table
    assert set(MESSAGE_IDS) - mapped == {"idle", "retest"}


@pytest.mark.parametrize("name, masked", [
    ("王小明", "王*明"), ("王明", "王*"), ("欧阳小明", "欧**明"), ("王", "*"), ("Li Wei", "L* W**"),
    ("Alice", "A****"),
])
def test_names_are_masked(name, masked):
    assert mask_name(name) == masked


def test_an_outcome_carries_only_the_masked_name():
    outcome = prompts.outcome_for_record("access_granted", {"name": "王小明", "temperature_c": 36.62})
    assert outcome == prompts.Outcome("granted", "王*明", 36.62)
    assert prompts.outcome_for_record("override", {"guard": "g1"}) == prompts.Outcome("guard_override")
