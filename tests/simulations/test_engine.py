"""The engine: configuration hashes, per-round seeds, and run_study's contract (serial backend)."""

import hashlib
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from simulations.engine import (
    DEFAULT_BASE_SEED,
    config_hash,
    round_seed,
    run_study,
)
from simulations.store import ResultStore
from tests.simulations.toy_study import TOY


def test_config_hash_is_sha256_of_canonical_json():
    # Reference written by hand: sorted keys, no spaces, JSON literals.
    text = '{"a":1,"b":"x","c":0.5,"d":true,"e":null}'
    expected = hashlib.sha256(text.encode()).hexdigest()[:16]
    config = {"e": None, "d": True, "c": 0.5, "b": "x", "a": 1}
    assert config_hash(config) == expected
    # numpy scalars hash like the Python scalars they stand for
    assert config_hash({"a": np.int64(1), "b": "x", "c": np.float64(0.5), "d": np.bool_(True),
                        "e": None}) == expected  # fmt: skip


def test_config_hash_tells_apart_values_json_tells_apart():
    assert config_hash({"a": 1}) != config_hash({"a": 1.0})
    assert config_hash({"a": 1}) != config_hash({"a": True})
    assert config_hash({"a": 1}) != config_hash({"b": 1})


@pytest.mark.parametrize(
    ("config", "error", "match"),
    [
        ({"a": [1, 2]}, TypeError, "`a`"),
        ({"a": {"b": 1}}, TypeError, "`a`"),
        ({"grid": float("nan")}, ValueError, "`grid`"),
        ({1: 2}, TypeError, "keys must be strings"),
        ([("a", 1)], TypeError, "`config`"),
    ],
)
def test_config_hash_rejects_non_scalars(config, error, match):
    with pytest.raises(error, match=match):
        config_hash(config)


def test_round_seed_is_built_from_base_seed_config_and_round_only():
    config = {"n": 100, "d": 50, "learner": "rf"}
    h = int(hashlib.sha256(b'{"d":50,"learner":"rf","n":100}').hexdigest()[:16], 16)
    expected = np.random.SeedSequence(
        entropy=[DEFAULT_BASE_SEED, h >> 32, h & 0xFFFFFFFF], spawn_key=(7,)
    )
    np.random.seed(123)  # global numpy state must not matter
    got = round_seed({"learner": "rf", "n": 100, "d": 50}, 7)
    np.testing.assert_array_equal(got.generate_state(8), expected.generate_state(8))
    # every ingredient changes the stream
    states = {
        tuple(round_seed(c, k, b).generate_state(4))
        for c in (config, {**config, "n": 101})
        for k in (0, 1)
        for b in (DEFAULT_BASE_SEED, 1)
    }
    assert len(states) == 8


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"round_index": -1}, ValueError), ({"round_index": 1.0}, TypeError),
     ({"round_index": 0, "base_seed": -5}, ValueError)],
)  # fmt: skip
def test_round_seed_rejects_bad_indices(kwargs, error):
    with pytest.raises(error):
        round_seed({"a": 1}, **kwargs)


def _expected_rows(study, configs, n_rounds, base_seed=DEFAULT_BASE_SEED):
    """run_study's rows rebuilt independently: direct calls of run_round with round_seed.

    Called with BLAS/OpenMP pools capped at one thread, as the harness runs rounds
    (the toy reports the thread count in its ``threads`` column).
    """
    frames = []
    for config in configs:
        for k in range(n_rounds):
            with threadpool_limits(limits=1):
                rows = study.run_round(dict(config), round_seed(config, k, base_seed))
            head = pd.DataFrame(
                {
                    "study": study.name,
                    **{key: [value] * len(rows) for key, value in config.items()},
                    "config_hash": config_hash(config),
                    "round": k,
                    "seed": f"{base_seed}:{config_hash(config)}:{k}",
                },
                index=rows.index,
            )
            frames.append(pd.concat([head, rows], axis=1))
    out = pd.concat(frames, ignore_index=True)
    return out.astype(
        {"study": "str", "config_hash": "str", "seed": "str", "round": "int64"}
    )


def test_run_study_rows_equal_direct_calls_in_documented_order(tmp_path):
    rows = run_study(TOY, rounds=4, backend="serial", out_dir=tmp_path, quiet=True)
    configs = TOY.make_configs(False, None)
    expected = _expected_rows(TOY, configs, 4)
    pd.testing.assert_frame_equal(rows, expected, check_exact=True)
    # in a serial run the harness caps BLAS/OpenMP pools at one thread
    assert (rows["threads"] == 1).all()


def test_run_study_quick_uses_quick_grid_and_rounds(tmp_path):
    rows = run_study(TOY, quick=True, backend="serial", out_dir=tmp_path, quiet=True)
    assert rows["config_hash"].nunique() == len(TOY.make_configs(True, None)) == 2
    assert sorted(rows["round"].unique()) == list(range(TOY.rounds[0]))


def test_base_seed_changes_results_and_is_stored_apart(tmp_path):
    a = run_study(TOY, rounds=2, backend="serial", out_dir=tmp_path, quiet=True)
    b = run_study(
        TOY, rounds=2, backend="serial", out_dir=tmp_path, quiet=True, base_seed=1
    )
    assert not np.allclose(a["score"], b["score"])
    pd.testing.assert_frame_equal(
        b,
        _expected_rows(TOY, TOY.make_configs(False, None), 2, base_seed=1),
        check_exact=True,
    )
    # both runs live in the same store, each complete
    with ResultStore(tmp_path / "toy-sim" / "results.sqlite") as store:
        assert len(store.completed(DEFAULT_BASE_SEED)) == len(store.completed(1)) == 8


def test_a_failing_round_propagates_and_completed_rounds_stay_stored(tmp_path):
    def configs(quick, data_dir):
        return [{"n": 20, "effect": 0.0, "fail_round": 2}, {"n": 20, "effect": 0.5}]

    study = replace(TOY, make_configs=configs)
    with pytest.raises(RuntimeError, match="toy failure in round 2"):
        run_study(study, rounds=4, backend="serial", out_dir=tmp_path, quiet=True)
    with ResultStore(tmp_path / "toy-sim" / "results.sqlite") as store:
        done = store.completed(DEFAULT_BASE_SEED)
    # rounds run round-major: rounds 0 and 1 of both configurations were done first
    hashes = [config_hash(c) for c in configs(False, None)]
    assert {(h, k) for h in hashes for k in (0, 1)} <= done
    assert (hashes[0], 2) not in done


def _bad_columns(config, seed):
    return pd.DataFrame({"router": ["a"], "n": [1.0]})  # `n` is a configuration key


def _not_a_frame(config, seed):
    return {"router": "a"}


@pytest.mark.parametrize(
    ("run_round", "error", "match"),
    [(_bad_columns, ValueError, r"\['n'\]"), (_not_a_frame, TypeError, "DataFrame")],
)
def test_run_round_output_is_checked(tmp_path, run_round, error, match):
    study = replace(TOY, run_round=run_round)
    with pytest.raises(error, match=match):
        run_study(study, rounds=1, backend="serial", out_dir=tmp_path, quiet=True)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"backend": "spark"}, ValueError, "`backend`"),
        ({"rounds": 0}, ValueError, "`rounds`"),
        ({"n_jobs": 0}, ValueError, "`n_jobs`"),
        ({"batch_size": 2.5}, TypeError, "`batch_size`"),
        (
            {"backend": "loky", "scheduler": "tcp://127.0.0.1:1"},
            ValueError,
            "`scheduler`",
        ),
        ({"base_seed": -1}, ValueError, "`base_seed`"),
    ],
)
def test_run_study_validates_arguments(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        run_study(TOY, out_dir=tmp_path, quiet=True, **{"backend": "serial", **kwargs})


def test_run_study_refuses_a_base_seed_the_store_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="`base_seed` must be at most"):
        run_study(TOY, backend="serial", out_dir=tmp_path, quiet=True, base_seed=2**63)


def test_make_configs_output_is_checked(tmp_path):
    dup = replace(TOY, make_configs=lambda quick, data: [{"a": 1}, {"a": 1}])
    with pytest.raises(ValueError, match="duplicate configurations"):
        run_study(dup, rounds=1, backend="serial", out_dir=tmp_path, quiet=True)
    reserved = replace(TOY, make_configs=lambda quick, data: [{"round": 1}])
    with pytest.raises(ValueError, match="reserved"):
        run_study(reserved, rounds=1, backend="serial", out_dir=tmp_path, quiet=True)
    with pytest.raises(TypeError, match="Study"):
        run_study("toy", out_dir=tmp_path)


def test_data_dir_goes_to_its_own_directory(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rows = run_study(
        TOY,
        rounds=1,
        data_dir=str(data),
        backend="serial",
        out_dir=tmp_path / "out",
        quiet=True,
    )
    assert (tmp_path / "out" / "toy-data-data" / "results.sqlite").is_file()
    assert not (tmp_path / "out" / "toy-sim").exists()
    assert (rows["data"] == str(data)).all()


def test_a_relative_data_dir_names_one_directory(tmp_path, monkeypatch):
    # --data typed alike ("data") from two working directories into one --out:
    # the configurations held the path as typed, so the second run found the first
    # one's rounds under the same hash and returned them for the other data set
    for side in ("a", "b"):
        (tmp_path / side / "data").mkdir(parents=True)
    out = tmp_path / "out"
    for side in ("a", "b"):
        monkeypatch.chdir(tmp_path / side)
        rows = run_study(
            TOY, rounds=1, data_dir="data", backend="serial", out_dir=out, quiet=True
        )
        assert (rows["data"] == str(tmp_path / side / "data")).all()


def test_registered_studies_have_valid_grids_and_importable_rounds():
    # what the engine and the workers rely on, for every study of the registry
    import importlib

    from simulations.engine import _prepare_configs, _uses_data
    from simulations.studies import STUDIES

    for name, study in STUDIES.items():
        assert study.name == name
        # _prepare_configs raises on duplicates, non-scalars and reserved keys
        quick = _prepare_configs(study, True, None)
        full = _prepare_configs(study, False, None)
        assert 0 < len(quick) <= len(full), name
        assert 1 <= study.rounds[0] <= study.rounds[1], name
        # worker processes import run_round by its module and name
        module = importlib.import_module(study.run_round.__module__)
        assert getattr(module, study.run_round.__qualname__) is study.run_round, name
    # the studies that read --data put the directory into their configurations
    for name in ("metarouter", "racer"):
        configs = STUDIES[name].make_configs(True, "/data/routerbench")
        assert _uses_data(configs, "/data/routerbench"), name
        assert not _uses_data(
            STUDIES[name].make_configs(True, None), "/data/routerbench"
        )


def test_output_folders_cannot_shadow_packages(tmp_path):
    """A run with ``--out .`` must not create a folder that imports as a package.

    ``python -m`` puts the working directory first on ``sys.path``: a folder named
    ``metarouter`` there would be imported instead of the library (a namespace
    package without the library's names), breaking every later round.
    """
    from simulations.engine import output_directory
    from simulations.studies import STUDIES

    for study in STUDIES.values():
        for data_dir in (None, str(tmp_path)):
            name = output_directory(study, tmp_path, data_dir).name
            assert not name.isidentifier(), name
