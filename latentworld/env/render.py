"""Pictures and text of imagined steps, drawn from the model's decoded observations.

``rgb_array`` frames of env families whose adapter can place units from observations
(:func:`latentworld.registry.unit_geometry`; SMAX maps) draw every unit where the decoded
observations say it is; other families get a heat map of the decoded observations (agents
x features). ``ansi`` is the same content as text.

N agents (allies), M enemies, F observation features, P pixels per side.
"""

from __future__ import annotations

import numpy as np

from latentworld.core.spec import EnvSpec
from latentworld.registry import unit_geometry

ALLY, ENEMY = (70, 130, 230), (220, 70, 60)  # RGB


def rgb_frame(spec: EnvSpec, obs: np.ndarray, alive: np.ndarray, size: int = 256) -> np.ndarray:
    """One picture [P, P, 3] uint8 of decoded observations obs [N, F] (alive [N] bool)."""
    geo = unit_geometry(spec.env_id)
    if geo is None:
        return _heatmap(obs, size)
    allies, enemies = geo.units(obs, alive)
    img = np.full((size, size, 3), 28, np.uint8)
    shown = np.concatenate([allies, enemies])
    shown = shown[shown[:, 3] > 0]
    if not len(shown):  # everyone dead or unseen: an empty map
        return img
    # zoom on the units (fights happen in a few units of a 32 x 32 map): a square view of at
    # least 12 map units around them, y up
    lo, hi = shown[:, :2].min(0), shown[:, :2].max(0)
    extent = max(12.0, float((hi - lo).max()) + 6.0)
    centre = (lo + hi) / 2
    scale = size / extent
    for rows, colour in ((allies, ALLY), (enemies, ENEMY)):
        for x, y, hp, seen in rows:
            if seen:
                px = (x - centre[0]) * scale + size / 2
                py = size / 2 - (y - centre[1]) * scale
                _unit(img, px, py, max(3.0, 0.5 * scale), colour, hp)
    return img


def _unit(img: np.ndarray, cx: float, cy: float, r: float, colour: tuple[int, int, int], hp: float) -> None:
    """A filled disc of radius r at pixel (cx, cy) with a health bar above it."""
    P = img.shape[0]
    yy, xx = np.ogrid[:P, :P]
    img[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = colour
    top, left, width = int(cy - r - 4), int(cx - r), max(int(2 * r), 2)
    if 0 <= top < P:
        x0, x1 = max(left, 0), min(left + width, P)
        img[top : top + 2, x0:x1] = (60, 60, 60)
        img[top : top + 2, x0 : max(x0, min(left + int(round(width * hp)), P))] = (80, 200, 90)


def _heatmap(obs: np.ndarray, size: int) -> np.ndarray:
    """obs [N, F] as a blue (negative) - white - red (positive) heat map, one band per agent."""
    v = np.tanh(np.asarray(obs, np.float32))  # [N, F] in (-1, 1)
    N, F = v.shape
    rows = np.clip((np.arange(size) * N) // size, 0, N - 1)
    cols = np.clip((np.arange(size) * F) // size, 0, F - 1)
    c = v[rows][:, cols][..., None]  # [P, P, 1]
    white = np.full(3, 255.0)
    pos, neg = np.array([220.0, 60.0, 50.0]), np.array([60.0, 100.0, 220.0])
    img = np.where(c >= 0, white + c * (pos - white), white - c * (neg - white))
    return img.astype(np.uint8)


def ansi_text(spec: EnvSpec, obs: np.ndarray, alive: np.ndarray, t: int, reward: float,
              uncertainty: np.ndarray | None = None) -> str:
    """The same step as text: one line per ally (and per seen enemy on SMAX maps)."""
    lines = [f"{spec.env_id} (imagined)  t={t}  team reward {reward:+.3f}"]
    geo = unit_geometry(spec.env_id)
    unc = np.zeros(len(spec.agents)) if uncertainty is None else uncertainty
    if geo is None:
        for i, a in enumerate(spec.agents):
            feats = " ".join(f"{x:+.2f}" for x in obs[i, :6])
            lines.append(f"  {a:<10} {'alive' if alive[i] else 'dead ':<6} obs[:6] {feats}  uncertainty {unc[i]:.4f}")
        return "\n".join(lines)
    allies, enemies = geo.units(obs, alive)
    for i, a in enumerate(spec.agents):
        x, y, hp, _ = allies[i]
        state = f"hp {hp:4.2f}  at ({x:5.1f}, {y:5.1f})" if alive[i] else "dead"
        lines.append(f"  {a:<10} {state:<28} uncertainty {unc[i]:.4f}")
    for j, (x, y, hp, seen) in enumerate(enemies):
        lines.append(f"  enemy_{j:<4} " + (f"hp {hp:4.2f}  at ({x:5.1f}, {y:5.1f})" if seen else "not seen"))
    return "\n".join(lines)
