"""The documentation site builds with ``mkdocs build --strict``: a broken link, a page missing
from the navigation or an API reference that no longer resolves fails the suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_docs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    if not (ROOT / "mkdocs.yml").exists():
        pytest.fail("mkdocs.yml is missing")
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or "mkdocs"
    proc = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    warnings = [line for line in proc.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    assert proc.returncode == 0, "\n".join(warnings) or proc.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "loop" / "index.html").exists()
    assert "LoopConfig" in (tmp_path / "site" / "reference" / "loop" / "index.html").read_text()


def test_every_public_module_class_and_function_has_a_docstring():
    """The API reference is built from the docstrings: a public name without one would be a
    blank entry there."""
    import importlib
    import inspect
    import pkgutil

    import latentworld

    missing, skipped = [], []
    for info in pkgutil.walk_packages(latentworld.__path__, "latentworld."):
        try:
            mod = importlib.import_module(info.name)
        except ImportError:  # an optional dependency that this install lacks
            skipped.append(info.name)
            continue
        if not mod.__doc__:
            missing.append(info.name)
        for name, obj in vars(mod).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                continue
            if inspect.isclass(obj) or inspect.isfunction(obj):
                if not inspect.getdoc(obj):
                    missing.append(f"{info.name}.{name}")
                if inspect.isclass(obj):
                    missing += [f"{info.name}.{name}.{m}" for m, f in vars(obj).items()
                                if not m.startswith("_") and inspect.isfunction(f) and not inspect.getdoc(f)]
    assert not missing, f"public names without a docstring: {missing}"
    assert len(skipped) < 5, skipped
