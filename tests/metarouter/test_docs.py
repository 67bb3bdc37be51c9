"""The Examples sections of the public docstrings run and print what they claim."""

import doctest
import importlib

import pytest

MODULES = [
    "metarouter.cate",
    "metarouter.routers",
    "metarouter.costs",
    "metarouter.evaluation",
    "metarouter.datasets",
    "metarouter.inference",
    "metarouter.offset",
    "metarouter.selection",
]


@pytest.mark.filterwarnings("ignore:.*propensities were clipped")
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
