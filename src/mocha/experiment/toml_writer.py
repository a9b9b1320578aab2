"""A small TOML writer for experiment documents (strings, numbers, booleans, lists, inline
tables, `[[layers]]` arrays of tables); `tomllib` reads back exactly what it writes."""

from __future__ import annotations

import json
import math
from typing import Any


def value(v: Any) -> str:
    """One TOML value."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        text = repr(v)
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(v, str):
        return _string(v)
    if hasattr(v, "tolist"):  # a NumPy scalar or array
        return value(v.tolist())
    if isinstance(v, list | tuple):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} {v!r} as TOML")


def _string(text: str) -> str:
    """A TOML basic string: JSON's escapes, with DEL escaped too (TOML forbids it raw) and
    characters outside the BMP left as they are (JSON's surrogate pairs are not TOML)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _key(k: str) -> str:
    bare = k.isascii() and k.replace("_", "").replace("-", "").isalnum()
    return k if bare else _string(k)


def dumps(doc: dict[str, Any], header: str = "") -> str:
    """The document: comment `header`, scalars, then tables, then arrays of tables."""
    lines: list[str] = [f"# {line}".rstrip() for line in header.splitlines()]
    tables = {k: v for k, v in doc.items() if isinstance(v, dict)}
    arrays = {
        k: v
        for k, v in doc.items()
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)
    }
    for k, v in doc.items():
        if k not in tables and k not in arrays:
            lines.append(f"{_key(k)} = {value(v)}")
    for k, v in tables.items():
        lines += ["", f"[{_key(k)}]", *(f"{_key(a)} = {value(b)}" for a, b in v.items())]
    for k, items in arrays.items():
        for item in items:
            lines += ["", f"[[{_key(k)}]]", *(f"{_key(a)} = {value(b)}" for a, b in item.items())]
    return "\n".join(lines) + "\n"
