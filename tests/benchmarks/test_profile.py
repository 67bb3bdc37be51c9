"""The profile benchmark names real hot spots and its shares are consistent."""

import numpy as np

from benchmarks.__main__ import main
from benchmarks.profile import profile_call


def _busy(steps):
    x = 0.0
    for i in range(steps):  # pure bytecode: all of it is _busy's own time
        x += i * 0.5
    return x


def test_profile_call_finds_the_function_that_takes_the_time():
    def work():
        _busy(1_000_000)
        np.sort(np.random.default_rng(0).random(1000))

    frame, wall = profile_call(work, top=5)
    assert wall > 0
    # the busy loop's own frame holds nearly all of the time
    assert "_busy" in frame["function"].iloc[0]
    assert frame["own share"].iloc[0] > 0.5
    assert (frame["own share"] <= 1).all() and frame[
        "own share"
    ].is_monotonic_decreasing


def test_quick_profile_section(tmp_path):
    out = tmp_path / "R.md"
    args = ["profile", "--quick", "--out", str(out), "--cache", str(tmp_path / "c")]
    assert main([*args, "--no-progress"]) == 0
    text = out.read_text()
    assert "<!-- profile:begin -->" in text
    # the solver's profile names the solver's own functions among its top entries
    assert "racer_dro/primal_dual.py" in text
    assert "What was changed because of these profiles" in text
