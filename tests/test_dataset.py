"""Episode datasets: append, reopen, refuse mixing, corruption handling, sampler batches."""

import json

import numpy as np
import pytest

import latentworld
from latentworld.data import DatasetError, Episode, EpisodeDataset, SequenceSampler, collect

pytest.importorskip("mpe2")
ENV = "mpe-simple_spread_v3"


@pytest.fixture
def spread_ds(tmp_path):
    stats = collect(ENV, tmp_path / "ds", 6, seed=1, progress=False)
    return EpisodeDataset.open(stats.path)


def test_collect_writes_valid_episodes(spread_ds):
    ds = spread_ds
    assert len(ds) == 6
    for ep in ds:
        ep.validate(ds.spec)
        assert ep.steps == 25  # simple_spread truncates at 25 cycles
        assert ep.truncated[-1] and not ep.terminated.any()
        assert ep.has_action[:-1].all() and not ep.has_action[-1]
        assert (ep.rewards[0] == 0).all()
    meta = json.loads((ds.root / "meta.json").read_text())
    assert meta["env_id"] == ENV and meta["latentworld_version"] == latentworld.__version__


def test_reopen_and_append_continues_numbering(spread_ds, tmp_path):
    collect(ENV, spread_ds.root, 3, seed=50, progress=False)
    ds = EpisodeDataset.open(spread_ds.root)
    assert len(ds) == 9
    assert [p.name for p in ds.episode_paths()][-1] == "ep_0000008.npz"


def test_refuses_another_envs_data(spread_ds):
    pytest.importorskip("jaxmarl")
    with pytest.raises(DatasetError, match="never mixed"):
        collect("smax-3m", spread_ds.root, 1, progress=False)
    assert len(EpisodeDataset.open(spread_ds.root)) == 6  # nothing lost


def test_refuses_non_dataset_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not a latentworld dataset"):
        collect(ENV, tmp_path, 1, progress=False)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    with pytest.raises(DatasetError, match="meta.json is missing"):
        EpisodeDataset.open(tmp_path)


def test_corrupted_files_give_clear_errors(spread_ds):
    path = spread_ds.episode_paths()[2]
    path.write_bytes(path.read_bytes()[:100])  # truncated by something outside latentworld
    with pytest.raises(DatasetError, match=r"ep_0000002.npz is unreadable.*delete it"):
        spread_ds.load(path)
    spread_ds[1].validate(spread_ds.spec)  # the others are intact
    (spread_ds.root / "meta.json").write_text("{not json")
    with pytest.raises(DatasetError, match="meta.json is corrupted"):
        EpisodeDataset.open(spread_ds.root)


def test_append_validates_shapes_and_values(spread_ds):
    ep = spread_ds[0]
    bad = Episode(**{**ep.__dict__, "obs": ep.obs[:, :, :5]})
    with pytest.raises(ValueError, match="'obs' has shape"):
        spread_ds.append(bad)
    nan = Episode(**{**ep.__dict__, "rewards": np.full_like(ep.rewards, np.nan)})
    with pytest.raises(ValueError, match="NaN"):
        spread_ds.append(nan)
    assert len(spread_ds) == 6


def test_second_writer_is_refused(spread_ds):
    a = EpisodeDataset.open(spread_ds.root)
    b = EpisodeDataset.open(spread_ds.root)
    a.append(spread_ds[0])
    with pytest.raises(DatasetError, match="another process is writing"):
        b.append(spread_ds[0])
    a.close()
    b.append(spread_ds[0])
    b.close()
    assert len(spread_ds) == 8


def test_sampler_pads_and_masks(spread_ds):
    s = SequenceSampler(spread_ds, seq_len=20, seed=0)
    batch = s.sample(32)
    N, D = spread_ds.spec.n_agents, spread_ds.spec.obs_dim
    assert batch["obs"].shape == (32, 20, N, D)
    assert batch["actions"].shape == (32, 20, N) and batch["action_mask"].shape == (32, 20, N, 5)
    assert batch["valid"].shape == batch["is_first"].shape == (32, 20)
    for b in range(32):
        ep = s.episodes[batch["episode"][b]]
        st = batch["start"][b]
        n = min(20, 26 - st)
        assert batch["valid"][b, :n].all() and not batch["valid"][b, n:].any()
        np.testing.assert_array_equal(batch["obs"][b, :n], ep.obs[st : st + n])
        assert (batch["obs"][b, n:] == 0).all()
        assert batch["is_first"][b, 0] == (st == 0)
    again = SequenceSampler(spread_ds, seq_len=20, seed=0).sample(32)
    np.testing.assert_array_equal(again["obs"], batch["obs"])  # seeded


def test_sampler_windows_cover_every_row_once(spread_ds):
    s = SequenceSampler(spread_ds, seq_len=10)
    rows = sum(b["valid"].sum() for b in s.iter_windows(batch_size=4))
    assert rows == 6 * 26


def test_reward_trend_smooths_each_episode_with_a_gaussian_window():
    """GAWM eqs. 4-5: a weighted mean over the window inside the episode; row 0 keeps no reward."""
    from latentworld.data.sampler import reward_trend

    r = np.zeros((7, 2), np.float32)
    r[3] = [1.0, 2.0]  # an impulse on row 3
    out = reward_trend(r, sigma=1.0, window=1)
    g = np.exp(-0.5)
    assert out[3, 0] == pytest.approx(1 / (1 + 2 * g), rel=1e-6)  # centre: the impulse's own weight
    assert out[2, 0] == pytest.approx(g / (1 + 2 * g), rel=1e-6)
    assert out[1, 0] == pytest.approx(0.0) and out[0].sum() == 0.0  # outside the window; row 0 untouched
    assert out[3, 1] == pytest.approx(2 * out[3, 0], rel=1e-6)
    edge = np.zeros((4, 1), np.float32)
    edge[1] = 1.0  # on the first rewarded row: only rows 1 and 2 are in the episode
    assert reward_trend(edge, 1.0, 1)[1, 0] == pytest.approx(1 / (1 + g), rel=1e-6)
    assert np.allclose(reward_trend(np.ones((9, 3), np.float32), 2.0)[1:], 1.0)  # constants stay constant
