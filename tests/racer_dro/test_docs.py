"""The Examples sections of racer_dro's public docstrings run and print what they claim."""

import doctest
import importlib

import pytest

MODULES = [
    "racer_dro._validation",
    "racer_dro.formulas",
    "racer_dro.kl",
    "racer_dro.problem",
    "racer_dro.primal_dual",
    "racer_dro.reference",
    "racer_dro.router",
    "racer_dro.baselines",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
