"""Sphinx configuration: ``python -m sphinx -W -b html docs docs/_build/html``.

API reference: the packages in ``API_PACKAGES`` are documented module by module
(autosummary, recursive: a new public module appears without editing anything;
modules whose names start with ``_`` are private and left out). The gallery runs
the scripts in ``docs/examples/`` (sphinx-gallery) and shows their figures.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import matplotlib

matplotlib.use("Agg")

#: The packages of the API reference (docs/api.rst lists the same names).
API_PACKAGES = ("metarouter", "racer_dro", "simulations")

project = "llm-routing-toolkit"
author = "the llm-routing-toolkit developers"
copyright = "2026, " + author
release = version = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "examples/README.rst"]
root_doc = "index"

# autodoc / autosummary
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "none"  # numpydoc's Parameters sections say the types
autodoc_mock_imports = []

# numpydoc
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()  # style is checked by the tests, not by the build

# sphinx-gallery: examples on simulated data, seconds each
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "plot_gallery": "True",
}

# HTML
html_theme = "pydata_sphinx_theme"
html_title = "llm-routing-toolkit"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = []
html_show_sourcelink = False

# No network during the build: nothing fetched (no intersphinx).
nitpicky = False


def _skip_generated_members(app, what, name, obj, skip, options):
    """Leave out the ``set_*_request`` methods scikit-learn generates for metadata
    routing (their docstrings point to scikit-learn's own glossary)."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_generated_members)
