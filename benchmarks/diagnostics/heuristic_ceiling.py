"""What SMAX's own scripted micro wins when it plays the allies: the level a learner must beat.

The enemies of every SMAX map here follow jaxmarl's heuristic (attack the closest unit in
range and keep shooting it while it stays in range; otherwise walk towards a visible enemy).
This script gives the allies the same heuristic (``closest`` or ``random`` target choice)
and plays ``--episodes`` real episodes per mode, all vmapped, to measure the win rate of
"the enemy's own script against itself" — on a symmetric map such as 3m that is the level
of a policy which has learned to shoot whatever is in range and no more.

    python benchmarks/diagnostics/heuristic_ceiling.py smax-3m --episodes 1000

Writes ``benchmarks/results/heuristic_ceiling/<env_id>.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "results" / "heuristic_ceiling"


def play(env_id: str, mode: str, episodes: int, seed: int) -> dict:
    """Win rate, mean team return and mean length of ``episodes`` heuristic-vs-heuristic games."""
    import jax
    import jax.numpy as jnp
    from jaxmarl import make
    from jaxmarl.environments.smax import map_name_to_scenario
    from jaxmarl.environments.smax.heuristic_enemy import (
        create_heuristic_policy,
        get_heuristic_policy_initial_state,
    )

    env = make("HeuristicEnemySMAX", scenario=map_name_to_scenario(env_id.removeprefix("smax-")))
    agents = list(env.agents)
    n = len(agents)
    policy = jax.vmap(create_heuristic_policy(env, 0, shoot=True, attack_mode=mode))

    def one_step(key, state, pstate, obs):
        k_act, k_env = jax.random.split(key)
        o = jnp.stack([obs[a] for a in agents])  # [N, obs_dim]
        acts, pstate = policy(jax.random.split(k_act, n), pstate, o)  # [N]
        obs, state, rew, dones, _ = env.step_env(k_env, state, {a: acts[i] for i, a in enumerate(agents)})
        s = state.state
        won = ~jnp.any(s.unit_alive[env.num_allies:]) & jnp.any(s.unit_alive[: env.num_allies])
        r = jnp.mean(jnp.stack([rew[a] for a in agents]))
        return state, pstate, obs, r, dones["__all__"], won

    def episode(key):
        k_reset, key = jax.random.split(key)
        obs, state = env.reset(k_reset)
        init = get_heuristic_policy_initial_state()
        pstate = jax.tree.map(lambda x: jnp.stack([x] * n), init)  # one policy state per agent

        def body(carry, k):
            state, pstate, obs, ret, length, done, won = carry
            state2, pstate2, obs2, r, d, w = one_step(k, state, pstate, obs)
            keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(done, b, a), new, old)  # noqa: E731
            return (keep(state2, state), keep(pstate2, pstate), keep(obs2, obs),
                    ret + jnp.where(done, 0.0, r), length + jnp.where(done, 0, 1),
                    done | d, jnp.where(done, won, w & d)), None

        carry = (state, pstate, obs, 0.0, 0, False, False)
        carry, _ = jax.lax.scan(body, carry, jax.random.split(key, env.max_steps + 1))
        return carry[3], carry[4], carry[6]

    t0 = time.perf_counter()
    ret, length, won = jax.jit(jax.vmap(episode))(jax.random.split(jax.random.PRNGKey(seed), episodes))
    return {"mode": mode, "episodes": episodes, "win_rate": float(jnp.mean(won)),
            "return": float(jnp.mean(ret)), "length": float(jnp.mean(length)),
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("env_id", help="a SMAX id, e.g. smax-3m")
    p.add_argument("--episodes", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    if not a.env_id.startswith("smax-"):
        p.error(f"{a.env_id!r} is not a SMAX id (smax-3m, smax-2s3z, ...): only SMAX ships the heuristic")
    rows = [play(a.env_id, mode, a.episodes, a.seed) for mode in ("closest", "random")]
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{a.env_id}.json"
    out.write_text(json.dumps({"env_id": a.env_id, "seed": a.seed, "results": rows}, indent=1) + "\n")
    for r in rows:
        print(json.dumps(r))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
