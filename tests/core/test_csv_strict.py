"""Strict CSV: one physical line is one row, every error names its line, nothing half-imported.
(fault-injection experiment 10: an unterminated quote gave a traceback, a stray quote merged lines.)"""
from __future__ import annotations

import pytest

from gate.core.csvtext import csv_rows
from gate.core.errors import InputError
from gate.core.passes import parse_pass_csv
from gate.rules.households import parse_household_csv


def big(bad_line: int, bad: str, total: int = 10_000) -> str:
    rows = ["card,name,household"]
    for i in range(1, total):
        rows.append(bad if i + 1 == bad_line else f"C{i:07X},Resident {i},h{i}")
    return "\n".join(rows) + "\n"


def test_an_unterminated_quote_is_an_error_naming_its_line():
    with pytest.raises(InputError, match=r"^p.csv line 5000: a quoted field is not closed on this line"):
        parse_pass_csv(big(5000, 'C0001388,"Resident 4999,h4999'), source="p.csv")


def test_a_stray_quote_near_the_end_never_merges_lines():
    # Was: exit 0 "imported 9996 passes", one pass named with five CSV lines.
    text = big(9997, 'C000270C,"Resident 9996,h9996', total=10_001)
    with pytest.raises(InputError, match=r"^p.csv line 9997: a quoted field is not closed"):
        parse_pass_csv(text, source="p.csv")


def test_a_field_spanning_lines_is_refused_even_when_quoted_properly():
    with pytest.raises(InputError, match=r"line 2: a quoted field is not closed"):
        parse_pass_csv('card,name\nDEADBEEF,"Wang\nLi"\n', source="p.csv")


def test_text_after_a_closing_quote_names_the_line():
    with pytest.raises(InputError, match=r'line 3: text after a closing quote'):
        parse_pass_csv('card,name\nDEADBEEF,Li\nCAFEF00D,"Zhao" Min\n', source="p.csv")


def test_quotes_that_close_on_their_line_are_fine():
    passes = parse_pass_csv('card,name\r\nDEADBEEF,"Wang, Li"\r\nCAFEF00D,"Zhao ""Min"""\r\n', source="p.csv")
    assert [p.name for p in passes] == ["Wang, Li", 'Zhao "Min"']


def test_nul_and_control_characters_are_refused_with_line_and_column():
    with pytest.raises(InputError, match=r"line 2: control character U\+0000 in column 12"):
        parse_pass_csv("card,name\nDEADBEEF,Li\x00Wei\n", source="p.csv")


def test_a_huge_line_is_refused_not_a_traceback():
    with pytest.raises(InputError, match=r"line 2: longer than 10000 characters"):
        parse_pass_csv("card,name\nDEADBEEF," + "x" * 200_000 + "\n", source="p.csv")


def test_blank_lines_and_bom_keep_the_line_numbers_of_the_file():
    assert [n for n, _ in csv_rows("\ufeffcard,name\n\nDEADBEEF,Li\n\n")] == [1, 3]
    with pytest.raises(InputError, match=r"line 4: "):
        parse_pass_csv("card,name\n\nDEADBEEF,Li\n0102030405,Five\n", source="p.csv")


def test_households_csv_is_just_as_strict():
    with pytest.raises(InputError, match=r"^h.csv line 3: a quoted field is not closed"):
        parse_household_csv('household,name\n3-201,Wang\n"3-202,Li\n3-203,Zhao\n', source="h.csv")
    with pytest.raises(InputError, match=r"^h.csv line 1: column\(s\) given twice: name"):
        parse_household_csv("household,name,name\n3-201,a,b\n", source="h.csv")
