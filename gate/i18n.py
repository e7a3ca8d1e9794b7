"""Message catalogues: one gettext domain per part of the product, one catalogue per language.

A leaf module (standard library only at run time): `translator("zh-CN")` reads
`gate/locale/zh_CN/LC_MESSAGES/gate.mo` with `gettext`. The `.po` files are the source; the `.mo`
files are compiled with Babel by `python -m gate.i18n compile` and committed beside them (as Django
does), so a gate needs neither Babel nor a build step, and a test fails when a `.mo` is stale.
A new language is one more folder of catalogues; a new part of the product one more domain.
"""
from __future__ import annotations

import functools
import gettext
import io
import sys
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"


class MissingCatalogue(LookupError):
    """No compiled catalogue for this language and domain."""


def locale_name(lang: str) -> str:
    """The gettext folder of a BCP 47 tag: "zh-CN" -> "zh_CN", "en" -> "en"."""
    return lang.replace("-", "_")


def catalogue_path(lang: str, domain: str = "gate", suffix: str = ".po") -> Path:
    return LOCALE_DIR / locale_name(lang) / "LC_MESSAGES" / f"{domain}{suffix}"


@functools.lru_cache(maxsize=32)
def translator(lang: str, domain: str = "gate") -> gettext.GNUTranslations:
    """The compiled catalogue of `domain` in `lang`. Raises MissingCatalogue (naming the file) when
    there is none: a gate configured for a language it cannot speak must say so, not fall back silently."""
    path = catalogue_path(lang, domain, ".mo")
    try:
        with open(path, "rb") as fp:
            return gettext.GNUTranslations(fp)
    except FileNotFoundError:
        raise MissingCatalogue(f"no {domain!r} catalogue for language {lang!r} (expected {path})") from None


def text(message_id: str, lang: str, domain: str = "gate") -> str:
    return translator(lang, domain).gettext(message_id)


def available_languages(domain: str = "gate") -> list[str]:
    return sorted(p.parent.parent.name.replace("_", "-") for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{domain}.mo"))


def compiled_bytes(po_path: Path) -> bytes:
    """What Babel compiles a `.po` file to (development only: Babel is not needed at run time)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with open(po_path, "rb") as fp:
        catalog = read_po(fp)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    return buf.getvalue()


def compile_all() -> list[Path]:
    """Compile every `.po` under gate/locale to the `.mo` beside it; returns the files written."""
    written = []
    for po in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        data = compiled_bytes(po)
        if not mo.exists() or mo.read_bytes() != data:
            mo.write_bytes(data)
            written.append(mo)
    translator.cache_clear()
    return written


def stale_catalogues(root: Path = LOCALE_DIR) -> list[Path]:
    """`.po` files whose committed `.mo` is missing or says something else (compared message by
    message, so a different Babel version writing other header bytes is not 'stale')."""
    from babel.messages.pofile import read_po

    stale = []
    for po in sorted(Path(root).glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        with open(po, "rb") as fp:
            source = {m.id: m.string for m in read_po(fp) if m.id and m.string}
        try:
            with open(mo, "rb") as fp:
                compiled = {k: v for k, v in gettext.GNUTranslations(fp)._catalog.items() if k}
        except (FileNotFoundError, OSError):
            stale.append(po)
            continue
        if compiled != source:
            stale.append(po)
    return stale


if __name__ == "__main__":  # python -m gate.i18n compile | check
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    if command == "compile":
        for path in compile_all():
            print(f"wrote {path.relative_to(LOCALE_DIR.parent.parent)}")
    elif command == "check":
        stale = stale_catalogues()
        for po in stale:
            print(f"{po}: the .mo is missing or stale; run: python -m gate.i18n compile", file=sys.stderr)
        sys.exit(1 if stale else 0)
    else:
        sys.exit("usage: python -m gate.i18n compile|check")
