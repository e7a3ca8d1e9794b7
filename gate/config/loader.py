"""A small declarative TOML → frozen-dataclass loader that reports every problem with its key path.

A section is a frozen dataclass; a field's `metadata` may carry `min`, `max`, `choices`, `file`
(the path must exist when set), `doc`. Nested dataclasses are sub-tables. Unknown keys are errors,
with "did you mean ...?" for near misses.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any

_MISSING = object()


def _type_name(tp: Any) -> str:
    if tp is float:
        return "a number"
    if tp is int:
        return "an integer"
    if tp is bool:
        return "true or false"
    if tp is str:
        return "a string"
    origin = typing.get_origin(tp)
    if origin in (tuple, list):
        return "a list"
    return getattr(tp, "__name__", str(tp))


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _coerce(value: Any, tp: Any, path: str, problems: list[str]) -> Any:
    tp, optional = _unwrap_optional(tp)
    if value is None and optional:
        return None
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{path}: must be {_type_name(tp)}, got {value!r}")
            return _MISSING
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{path}: must be {_type_name(tp)}, got {value!r}")
            return _MISSING
        return value
    if tp in (bool, str):
        if not isinstance(value, tp):
            problems.append(f"{path}: must be {_type_name(tp)}, got {value!r}")
            return _MISSING
        return value
    origin = typing.get_origin(tp)
    if origin in (tuple, list):
        if not isinstance(value, list):
            problems.append(f"{path}: must be a list, got {value!r}")
            return _MISSING
        (item_tp, *_rest) = typing.get_args(tp) or (Any,)
        items = [_coerce(v, item_tp, f"{path}[{i}]", problems) for i, v in enumerate(value)]
        if any(i is _MISSING for i in items):
            return _MISSING
        return tuple(items)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            problems.append(f"{path}: must be a table, got {value!r}")
            return _MISSING
        return load_section(tp, value, path, problems)
    return value


def _check_limits(value: Any, meta: typing.Mapping, path: str, problems: list[str], raw: Any = None) -> None:
    if value is None:
        return
    shown = value if raw is None else raw
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and hi is not None and not (lo <= value <= hi):
        problems.append(f"{path}: must be between {lo} and {hi}, got {shown!r}")
    elif lo is not None and value < lo:
        problems.append(f"{path}: must be at least {lo}, got {shown!r}")
    elif hi is not None and value > hi:
        problems.append(f"{path}: must be at most {hi}, got {shown!r}")
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        hint = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
        more = f" (did you mean {hint[0]!r}?)" if hint else ""
        problems.append(f"{path}: must be one of {', '.join(map(repr, choices))}, got {value!r}{more}")


def load_section(cls: type, table: dict[str, Any], path: str, problems: list[str]) -> Any:
    """Build dataclass `cls` from `table`, appending 'path: message' lines to `problems`."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in table:
        if key not in fields:
            where = f"{path}.{key}" if path else key
            hint = difflib.get_close_matches(key, list(fields), n=1)
            more = f" (did you mean {hint[0]!r}?)" if hint else ""
            problems.append(f"{where}: unknown key{more}")
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        where = f"{path}.{name}" if path else name
        tp = hints[name]
        if name in table:
            value = _coerce(table[name], tp, where, problems)
            if value is _MISSING:
                continue  # the default stands in, so later keys still get checked
            _check_limits(value, field.metadata, where, problems, table[name])
            kwargs[name] = value
        elif dataclasses.is_dataclass(_unwrap_optional(tp)[0]) and field.default is dataclasses.MISSING:
            kwargs[name] = load_section(_unwrap_optional(tp)[0], {}, where, problems)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required key is missing
        problems.append(f"{path or '<top>'}: {exc}")
        return None


def check_files(obj: Any, path: str, problems: list[str], base: Path) -> None:
    """Every field marked `file=True` whose value is set must name an existing file."""
    if obj is None or not dataclasses.is_dataclass(obj):
        return
    if getattr(obj, "enabled", True) is False:
        return  # a disabled part needs none of its files
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        where = f"{path}.{field.name}" if path else field.name
        if dataclasses.is_dataclass(value):
            check_files(value, where, problems, base)
        elif field.metadata.get("file") and value:
            target = resolve_path(value, base)
            if not target.is_file():
                hint = (f" (create it with: gatectl secret {target})"
                        if field.name.endswith(("secret_file", "key_file")) and "tls" not in field.name else "")
                problems.append(f"{where}: file not found: {target}{hint}")


def resolve_path(value: str, base: Path) -> Path:
    """Config paths: `~` expanded; relative paths are relative to the config file's folder."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p).resolve()
