"""What users get is the built wheel, not this source tree: it must hold every sub-package,
every shipped world model and the typing marker.

Under CI the suite runs against the wheel installed in a fresh venv (``.ci/run``), so these
tests read the installed package; in a development (editable) install they build a wheel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import latentworld

ROOT = Path(__file__).resolve().parents[1]
INSTALLED = Path(latentworld.__file__).resolve().parent != ROOT / "latentworld"  # not this checkout's source


def _expected() -> set[str]:
    """Paths (inside the wheel) that must ship: every package's __init__.py, the models, py.typed."""
    want = {"latentworld/py.typed"}
    for init in (ROOT / "latentworld").rglob("__init__.py"):
        want.add(init.relative_to(ROOT).as_posix())
    for init in (ROOT / "adapters").rglob("__init__.py"):
        want.add("latentworld/" + init.relative_to(ROOT).as_posix())
    for f in (ROOT / "latentworld" / "checkpoints").glob("*/*"):
        want.add(f.relative_to(ROOT).as_posix())
    return want


def test_the_wheel_holds_every_package_and_shipped_model(tmp_path):
    want = _expected()
    assert any(w.startswith("latentworld/integrations/") for w in want)
    assert {w.split("/")[2] for w in want if w.startswith("latentworld/checkpoints/")} >= {"smax-3m"}
    if INSTALLED:  # the copy this suite imports: what pip put in site-packages
        site = Path(latentworld.__file__).resolve().parents[1]
        missing = sorted(w for w in want if not (site / w).is_file())
    else:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
                       check=True, capture_output=True, timeout=600)
        (wheel,) = tmp_path.glob("latentworld-*.whl")
        names = set(zipfile.ZipFile(wheel).namelist())
        missing = sorted(want - names)
        assert not any(n.startswith(("adapters/", "tests/", "benchmarks/")) for n in names)
    assert not missing, f"missing from the installed package: {missing}"


@pytest.mark.skipif(os.environ.get("CI") != "true", reason="CI installs the wheel; a development tree may be editable")
def test_ci_tests_the_installed_wheel_not_the_source_tree():
    import importlib

    assert INSTALLED, f"latentworld was imported from {latentworld.__file__}, the source tree"
    for name, source in (("latentworld.adapters", ROOT / "adapters"),
                         ("latentworld.integrations", ROOT / "latentworld" / "integrations")):
        assert Path(importlib.import_module(name).__file__).resolve().parent != source, name
