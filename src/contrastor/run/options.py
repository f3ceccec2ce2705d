"""Option values as YAML files and ``--set KEY=VALUE`` give them, converted to the type of
each option's default before the options are built."""

from __future__ import annotations

import dataclasses
from typing import Any


def typed_options(options: type, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with each one given to a field of the dataclass ``options`` converted to
    the type of that field's default where YAML reads it as another: ``2e-5`` (YAML 1.1
    reads a number without a dot as text) or ``1`` for a float option, ``"8"`` for an
    integer one, ``64`` for a text one (``matryoshka_dims=64``). Values that do not convert,
    booleans and unknown names are left as given, for validation to refuse."""
    kinds = {f.name: type(f.default) for f in dataclasses.fields(options)}
    out = dict(values)
    for name, value in values.items():
        kind = kinds.get(name)
        if isinstance(value, bool) or kind not in (int, float, str) or type(value) is kind:
            continue
        if kind is str and isinstance(value, int | float):
            out[name] = str(value)
        elif isinstance(value, str) or (kind is float and isinstance(value, int)):
            try:
                out[name] = kind(value)
            except ValueError:
                continue
    return out
