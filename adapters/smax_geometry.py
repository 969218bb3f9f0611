"""Where units stand on a SMAX map, read back from (decoded) observations.

Each living ally's own features hold its health and its position (as a fraction of the
map), and its view of the others their health and their offset (in units of its sight
range); an enemy is placed at the mean of the positions the allies' views give it. The
geometry (map size, sight ranges, feature layout) comes from jaxmarl's own scenario, so it
needs the ``smax`` extra.

N agents (allies), M enemies, F observation features.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np


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
        return geometry(name)

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
def geometry(name: str) -> SMAXGeometry:
    """The geometry of SMAX map ``name`` (cached: it builds a jaxmarl env once per map)."""
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
