"""Strict JSON for everything latentworld prints or writes: NaN and infinities become null.

Python's ``json`` writes ``NaN`` and ``Infinity`` by default, which Python reads back but
strict parsers (``jq``, JavaScript, most other languages) refuse.
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(obj: Any) -> Any:
    """``obj`` with every non-finite float (also numpy scalars) replaced by None, recursively."""
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if isinstance(obj, float) or type(obj).__name__ in ("float32", "float64", "float16"):
        x = float(obj)
        return x if math.isfinite(x) else None
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`finite` ``(obj)``, refusing anything still not strict JSON."""
    return json.dumps(finite(obj), allow_nan=False, **kwargs)
