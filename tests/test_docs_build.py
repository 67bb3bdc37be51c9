"""The documentation site builds with warnings as errors, gallery examples included.

It builds a copy of ``docs/`` in a temporary directory (autosummary and
sphinx-gallery write into the source tree), so it is safe under pytest-xdist and
leaves the checkout clean. Skipped when Sphinx and its extensions (the ``test`` and
``docs`` extras) are not installed. About 40 s on 2 shared cores.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NEEDED = ("sphinx", "numpydoc", "pydata_sphinx_theme", "sphinx_gallery")


def test_docs_build_with_warnings_as_errors(tmp_path):
    missing = [m for m in NEEDED if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(
            f"the docs tools are not installed ({missing}): pip install '.[docs]'"
        )
    source = tmp_path / "docs"
    shutil.copytree(
        ROOT / "docs",
        source,
        ignore=shutil.ignore_patterns("_build", "generated", "auto_examples"),
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("MPLBACKEND", None)
    html = tmp_path / "html"
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
        + [str(source), str(html)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    # the API reference has a page per public module, the user guide its math and
    # the gallery its figures
    for page in (
        "generated/metarouter.routers.html",
        "generated/racer_dro.kl.html",
        "generated/simulations.engine.html",
        "user_guide/metarouter.html",
        "user_guide/cluster.html",
    ):
        assert (html / page).is_file(), page
    assert not (html / "generated" / "metarouter._crossfit.html").exists()  # private
    routers = (html / "generated" / "metarouter.routers.html").read_text()
    assert "MetaRouter" in routers and "Examples" in routers
    figures = sorted((html / "_images").glob("sphx_glr_plot_*_001.png"))
    assert len(figures) >= 3
    assert (
        r"\Delta(q) = m(q) - \eta(q)"
        in (html / "user_guide/metarouter.html").read_text()
    )
