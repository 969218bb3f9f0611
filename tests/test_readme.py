"""The README's commands and examples stay true."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_ci_runs_exactly_the_readme_test_command():
    blocks = re.findall(r"```bash\n(.*?)\n```", README, re.S)
    test_cmd = next(b for b in blocks if "pytest" in b)
    assert test_cmd.strip() in (ROOT / ".ci" / "run").read_text()


def test_readme_real_env_example_runs():
    pytest.importorskip("jaxmarl")
    pytest.importorskip("mpe2")
    import latentworld

    code = next(b for b in re.findall(r"```python\n(.*?)\n```", README, re.S) if "make_real(\"smax-3m\")" in b)
    namespace: dict = {}
    try:
        exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    finally:
        latentworld.unregister("my-spread")
    assert len(namespace["env"].possible_agents) == 3 and len(namespace["mine"].possible_agents) == 4


def test_readme_is_short():
    assert len(README.splitlines()) <= 300


def test_readme_whole_loop_example_runs():
    """The README's Python tour: shipped model → PettingZoo env → MAPPO in make_vec → real SMAX."""
    pytest.importorskip("jaxmarl")
    code = next(b for b in re.findall(r"```python\n(.*?)\n```", README, re.S) if "make_vec(" in b)
    code = code.replace("total_steps=20_000", "total_steps=2_000")  # the same calls, a shorter run
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["env"].agents == []
    assert namespace["mappo"].n_agents == 3


def test_readme_main_command_is_the_quickstart():
    blocks = re.findall(r"```bash\n(.*?)\n```", README, re.S)
    main_cmd = next(b for b in blocks if "pip install" in b and "pytest" not in b)
    assert main_cmd.strip().endswith("latentworld quickstart")
