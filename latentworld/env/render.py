"""Pictures and text of imagined steps, drawn from the model's decoded observations.

``rgb_array`` frames for SMAX maps place every unit where the decoded observations say it
is: each living ally's own features hold its health and its position (as a fraction of the
map), and its view of the others their health and their offset (in units of its sight
range); an enemy is drawn at the mean of the positions the allies' views give it. Other env
families get a heat map of the decoded observations (agents x features). ``ansi`` is the
same content as text. The SMAX geometry (map size, sight ranges, feature layout) is read
from jaxmarl's own scenario, so SMAX drawing needs the ``smax`` extra.

N agents (allies), M enemies, F observation features, P pixels per side.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from latentworld.spec import EnvSpec

ALLY, ENEMY = (70, 130, 230), (220, 70, 60)  # RGB


@dataclass(frozen=True)
class SMAXGeometry:
    """Where SMAX's ``unit_list`` observation keeps what (read from jaxmarl's scenario)."""

    n_allies: int
    n_enemies: int
    unit_size: int  # features per other unit: health, dx, dy, ..., type bits
    own_size: int  # own features: health, x / width, y / height, cooldown, type bits
    type_bits: int
    width: float
    height: float
    sight: tuple[float, ...]  # sight range per unit type

    @classmethod
    def for_map(cls, name: str) -> SMAXGeometry:
        return _geometry(name)

    def units(self, obs: np.ndarray, alive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Decoded obs [N, F] and alive [N] → allies [N, 4] and enemies [M, 4] rows of
        (x, y, health, seen): map coordinates, health in [0, 1], seen 0/1."""
        N, M, U = self.n_allies, self.n_enemies, self.unit_size
        own = obs[:, -self.own_size:]  # [N, own]
        allies = np.zeros((N, 4), np.float32)
        allies[:, 0] = own[:, 1] * self.width
        allies[:, 1] = own[:, 2] * self.height
        allies[:, 2] = np.clip(own[:, 0], 0.0, 1.0)
        allies[:, 3] = alive
        sight = np.array(self.sight, np.float32)[own[:, 4:4 + self.type_bits].argmax(-1)]  # [N]
        others = obs[:, : (N - 1 + M) * U].reshape(N, N - 1 + M, U)[:, N - 1:]  # [N, M, U] views of the enemies
        seen = alive[:, None] & (others[..., 0] > 0.05)  # [N, M] a living ally sees a living enemy
        pos = allies[:, None, :2] + others[..., 1:3] * sight[:, None, None]  # [N, M, 2]
        w = seen.astype(np.float32)[..., None]
        count = w.sum(0)  # [M, 1]
        enemies = np.zeros((M, 4), np.float32)
        enemies[:, :2] = (pos * w).sum(0) / np.maximum(count, 1.0)
        enemies[:, 2] = np.clip((others[..., 0] * w[..., 0]).sum(0) / np.maximum(count[:, 0], 1.0), 0.0, 1.0)
        enemies[:, 3] = count[:, 0] > 0
        return allies, enemies


@cache
def _geometry(name: str) -> SMAXGeometry:
    try:
        from jaxmarl.environments.smax import map_name_to_scenario
        from jaxmarl.environments.smax.smax_env import SMAX
    except ImportError as e:
        raise ImportError("drawing a SMAX map reads its geometry from jaxmarl: pip install 'latentworld[smax]' "
                          "(or render with render_mode='ansi')") from e
    env = SMAX(scenario=map_name_to_scenario(name))
    return SMAXGeometry(env.num_allies, env.num_enemies, len(env.unit_features), len(env.own_features),
                        env.unit_type_bits, float(env.map_width), float(env.map_height),
                        tuple(float(s) for s in np.asarray(env.unit_type_sight_ranges)))


def _smax_map(spec: EnvSpec) -> str | None:
    return spec.env_id.split("-", 1)[1] if spec.env_id.startswith("smax-") else None


def rgb_frame(spec: EnvSpec, obs: np.ndarray, alive: np.ndarray, size: int = 256) -> np.ndarray:
    """One picture [P, P, 3] uint8 of decoded observations obs [N, F] (alive [N] bool)."""
    name = _smax_map(spec)
    if name is None:
        return _heatmap(obs, size)
    geo = SMAXGeometry.for_map(name)
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
    name = _smax_map(spec)
    unc = np.zeros(len(spec.agents)) if uncertainty is None else uncertainty
    if name is None:
        for i, a in enumerate(spec.agents):
            feats = " ".join(f"{x:+.2f}" for x in obs[i, :6])
            lines.append(f"  {a:<10} {'alive' if alive[i] else 'dead ':<6} obs[:6] {feats}  uncertainty {unc[i]:.4f}")
        return "\n".join(lines)
    allies, enemies = SMAXGeometry.for_map(name).units(obs, alive)
    for i, a in enumerate(spec.agents):
        x, y, hp, _ = allies[i]
        state = f"hp {hp:4.2f}  at ({x:5.1f}, {y:5.1f})" if alive[i] else "dead"
        lines.append(f"  {a:<10} {state:<28} uncertainty {unc[i]:.4f}")
    for j, (x, y, hp, seen) in enumerate(enemies):
        lines.append(f"  enemy_{j:<4} " + (f"hp {hp:4.2f}  at ({x:5.1f}, {y:5.1f})" if seen else "not seen"))
    return "\n".join(lines)
