"""The export list of a package that re-exports its family modules' ``__all__``."""

from __future__ import annotations

from typing import Any


def family_exports(namespace: dict[str, Any]) -> list[str]:
    """Every name in ``namespace`` (a package's ``globals()``) defined in one of the
    package's own modules: what its star imports of those modules brought in."""
    prefix = f"{namespace['__name__']}."
    return sorted(
        name
        for name, value in namespace.items()
        if getattr(value, "__module__", "").startswith(prefix)
    )
