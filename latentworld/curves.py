"""A run's learning curve on disk: one JSON line per round, mirrored to CSV and drawn as PNG."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from latentworld import jsonutil
from latentworld._io import atomic_write_bytes


class Curve:
    """The learning curve on disk: one JSON line per iteration, mirrored to CSV and PNG, and with
    ``tensorboard`` to TensorBoard event files in the same directory (step: ``env_steps``)."""

    def __init__(self, out: Path, tensorboard: bool = False):
        self.out = out
        self.path = out / "curve.jsonl"
        self.rows: list[dict[str, Any]] = []
        if self.path.exists():
            self.rows = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
        self.log = None
        if tensorboard:
            from latentworld.tblog import ScalarLog

            # a resumed run hides events past its last row (written by a run killed before the row)
            self.log = ScalarLog(out, purge_step=self.rows[-1]["env_steps"] + 1 if self.rows else None)

    def close(self) -> None:
        """Close the TensorBoard log (the files stay as they are)."""
        if self.log is not None:
            self.log.close()

    def add(self, row: dict[str, Any], plot: bool = True) -> None:
        """Add a row: curve.jsonl and curve.csv are rewritten whole (atomically: a full disk or a
        kill leaves the previous files, never a torn line), curve.png redrawn when ``plot``."""
        if self.log is not None:  # first: a kill before the row lands leaves events that resume hides
            self.log.write(row, row["env_steps"])
        rows = self.rows + [row]
        atomic_write_bytes(self.path, "".join(jsonutil.dumps(r) + "\n" for r in rows).encode())
        keys = list(dict.fromkeys(k for r in rows for k in r))
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
        atomic_write_bytes(self.out / "curve.csv", buf.getvalue().encode())
        self.rows = rows
        if plot:
            plot_curves({self.out.name: self.rows}, self.out / "curve.png")


def plot_curves(curves: dict[str, list[dict[str, Any]]], path: Path, title: str = "") -> None:
    """Win rate (or return) against real env steps, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    key = "win_rate" if any(r.get("win_rate") is not None for rs in curves.values() for r in rs) else "return"
    colours: dict[str, str] = {}  # "mabl s1" -> variant "mabl", seed 1: a colour per variant, a line style per seed
    for name, rows in curves.items():
        m = re.fullmatch(r"(.*) s(\d+)", name)
        group, seed = (m[1], int(m[2])) if m else (name, 0)
        colour = colours.setdefault(group, f"C{len(colours) % 10}")
        xs = [r["env_steps"] for r in rows if r.get(key) is not None]
        ys = [r[key] for r in rows if r.get(key) is not None]
        ax.plot(xs, ys, marker="o", ms=2.5, lw=1.2, color=colour, ls=("-", "--", ":", "-.")[seed % 4],
                label=name)
    ax.set_xlabel("real env steps")
    ax.set_ylabel("win rate" if key == "win_rate" else "team return")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
