"""The Examples sections of the K-model, metrics and display modules run as claimed."""

import doctest
import importlib

import pytest

MODULES = [
    "metarouter.metrics",
    "metarouter.multimodel",
    "metarouter.multimodel_data",
    "metarouter.display",
]


@pytest.mark.filterwarnings("ignore:.*propensities were clipped")
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
