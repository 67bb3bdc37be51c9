"""Resume after SIGKILL: the rerun computes only the missing rounds and ends identical to a clean run."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from simulations.engine import DEFAULT_BASE_SEED, config_hash, run_study
from simulations.store import ResultStore
from tests.simulations import toy_study
from tests.simulations.toy_study import SLOW_TOY

ROOT = Path(__file__).resolve().parents[2]
N_CONFIGS, N_ROUNDS = 2, SLOW_TOY.rounds[1]


def _command(out: Path) -> list[str]:
    return [sys.executable, "-m", "tests.simulations.toy_study", "slowtoy", "--out", str(out),
            "--backend", "loky", "--jobs", "2", "--quiet"]  # fmt: skip


def _env(markers: Path) -> dict:
    env = dict(os.environ, TOY_MARKER_DIR=str(markers))
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), env.get("PYTHONPATH")])
    )
    return env


def _stored_rounds(store: Path) -> int:
    if not store.exists():
        return 0
    con = sqlite3.connect(store, timeout=10)
    try:
        return con.execute("SELECT count(*) FROM rounds").fetchone()[0]
    except sqlite3.OperationalError:  # the tables are not created yet
        return 0
    finally:
        con.close()


def _marked(markers: Path) -> list[tuple[str, int]]:
    return sorted(
        (m.name.split("-")[0], int(m.name.split("-")[1])) for m in markers.iterdir()
    )


def test_sigkill_then_rerun_gives_the_uninterrupted_result(tmp_path, monkeypatch):
    out = tmp_path / "out"
    store_path = out / "slowtoy-sim" / "results.sqlite"
    first_markers, rerun_markers = tmp_path / "m1", tmp_path / "m2"
    first_markers.mkdir()
    rerun_markers.mkdir()

    # 1. start the command, kill it with SIGKILL once a few rounds are stored
    proc = subprocess.Popen(
        _command(out), cwd=ROOT, env=_env(first_markers), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while _stored_rounds(store_path) < 3:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the run stored nothing in 120 s"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        try:  # the loky workers of the killed run (its own process group)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.stderr.close()

    hashes = [config_hash(c) for c in SLOW_TOY.make_configs(False, None)]
    every = {(h, k) for h in hashes for k in range(N_ROUNDS)}
    with ResultStore(store_path) as store:
        survived = store.completed(DEFAULT_BASE_SEED)
        before = store.rounds_table().set_index(["config_hash", "round"])[
            "completed_at"
        ]
    assert 3 <= len(survived) < len(every), "kill the run mid-way"
    # no round is half-stored: each stored round has all its rows
    con = sqlite3.connect(store_path)
    counts = con.execute(
        "SELECT count(*) FROM results GROUP BY config_hash, round"
    ).fetchall()
    con.close()
    assert len(counts) == len(survived) and {c for (c,) in counts} == {3}

    # 2. rerun the same command to completion
    rerun = subprocess.run(
        _command(out),
        cwd=ROOT,
        env=_env(rerun_markers),
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr.decode()
    # it computed exactly the missing rounds, each once
    assert _marked(rerun_markers) == sorted(every - survived)
    with ResultStore(store_path) as store:
        after = store.rounds_table().set_index(["config_hash", "round"])["completed_at"]
    assert sorted(after.index) == sorted(every)  # no duplicate, no missing round
    pd.testing.assert_series_equal(
        after.loc[before.index], before
    )  # survivors untouched

    # 3. identical to an uninterrupted run (in-process; sleeping changes no number)
    monkeypatch.setattr(toy_study.time, "sleep", lambda seconds: None)
    monkeypatch.delenv("TOY_MARKER_DIR", raising=False)
    clean = run_study(
        SLOW_TOY, backend="serial", out_dir=tmp_path / "clean", quiet=True
    )
    assert len(clean) == N_CONFIGS * N_ROUNDS * 3
    clean.to_csv(tmp_path / "clean.csv", index=False)
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "slowtoy-sim" / "results.csv"),
        pd.read_csv(tmp_path / "clean.csv"),
        check_exact=True,
    )
    third_markers = tmp_path / "m3"
    third_markers.mkdir()
    monkeypatch.setenv("TOY_MARKER_DIR", str(third_markers))
    resumed = run_study(SLOW_TOY, backend="serial", out_dir=out, quiet=True)
    assert list(third_markers.iterdir()) == []  # a complete store: nothing to compute
    pd.testing.assert_frame_equal(resumed, clean, check_exact=True)


@pytest.fixture(autouse=True)
def _no_leftover_markers_env(monkeypatch):
    monkeypatch.delenv("TOY_MARKER_DIR", raising=False)
