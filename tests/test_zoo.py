"""The model zoo: every world model shipped in the package loads with ``make(ENV_ID)`` alone,
follows the PettingZoo API, and stays small enough to ship (at most 4 MB)."""

from __future__ import annotations

import json

import pytest

import latentworld
from latentworld.cli import main

ZOO = {"smax-3m", "smax-2s3z", "smax-3s5z"}  # the headline maps


def test_list_models_names_the_zoo(capsys):
    assert main(["list", "--models", "--json"]) == 0
    models = {m["env_id"]: m for m in json.loads(capsys.readouterr().out)}
    assert set(models) >= ZOO
    for m in models.values():
        assert m["source"] == "shipped" and m["size_bytes"] <= 4 * 2**20, m
        assert m["train_steps"] > 0 and m["real_env_steps"] > 0, m


@pytest.mark.parametrize("env_id", sorted(ZOO))
def test_each_shipped_model_is_a_pettingzoo_env(env_id):
    pytest.importorskip("jaxmarl")
    from pettingzoo.test import parallel_api_test

    env = latentworld.make(env_id, seed=0)
    parallel_api_test(env, num_cycles=30)
    real = latentworld.make_real(env_id)
    assert env.possible_agents == real.possible_agents
    assert env.observation_space(env.possible_agents[0]).shape[0] > 0
