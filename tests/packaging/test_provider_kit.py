"""A provider package outside the repository passes the conformance suite with only
aegis-core: what a third party's CI does.

The example provider (tests/example_provider, its tests included) is copied to a
temporary folder and installed into a fresh virtual environment beside the aegis-core
wheel with its ``testing`` extra (pytest); its tests then run through
``pytest -p aegis.testing`` against its CLI, ``example-agent``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.packaging.test_wheels import ROOT, Venv, ok, run, uv

pytestmark = pytest.mark.slow


def test_an_outside_provider_passes_the_conformance_suite_with_only_aegis_core(
    tmp_path: Path,
) -> None:
    dist = tmp_path / "dist"
    ok([*uv(), "build", "--package", "aegis-core", "--wheel", "--out-dir", str(dist)], ROOT)
    [core] = dist.glob("aegis_core-*.whl")
    provider = tmp_path / "aegis-example-provider"
    shutil.copytree(
        ROOT / "tests" / "example_provider",
        provider,
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", ".venv"),
    )
    venv = Venv(tmp_path / "env", [f"aegis-core[testing] @ {core.as_uri()}", str(provider)])

    done = run([str(venv.python), "-m", "pytest", "-p", "aegis.testing", "-q", "tests"], provider)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "9 passed" in done.stdout
    assert not {name for name in venv.installed() if name.startswith("aegis-provider")}
