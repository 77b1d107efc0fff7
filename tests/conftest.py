"""Shared fixtures: the real records in ``../shared/data`` and seeded synthetic ECGs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VENDORED_DATA = REPO / "tests" / "data"  # a small subset that travels with the repository
_FULL = Path(os.environ.get("ECGBYTE_SHARED_DATA", REPO.parent / "shared" / "data"))
SHARED_DATA = _FULL if _FULL.is_dir() else VENDORED_DATA
FULL_FIXTURES = SHARED_DATA != VENDORED_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the real-data fixtures (PTB-XL, CinC 2021, PTB, ECG-QA samples): ``../shared/data``
    where it exists (``ECGBYTE_SHARED_DATA`` overrides), else the subset in ``tests/data``."""
    if os.environ.get("CI") and not FULL_FIXTURES:
        raise RuntimeError(f"CI run without the shared fixtures at {_FULL}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def full_shared_data(shared_data: Path) -> Path:
    """The full developer fixture set: for tests whose expectations count its records or items."""
    if not FULL_FIXTURES:
        pytest.skip(f"needs the full fixture set at {_FULL}; tests/data holds only a subset")
    return shared_data


@pytest.fixture(scope="session")
def ptbxl_dir(shared_data: Path) -> Path:
    return shared_data / "ptb-xl"


@pytest.fixture(scope="session")
def serve_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny trained run (lead II, 3 steps) shared by the export and server tests."""
    pytest.importorskip("torch")
    from serving import tiny_run

    return tiny_run(tmp_path_factory.mktemp("serve_run") / "run")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI, a skipped test is a failure unless it needs hardware CI does not have (a GPU).

    CI installs every extra and has the shared fixtures, so a skip there means a missing
    install step or fixture, not an optional feature.
    """
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if "GPU" not in reason and "CUDA" not in reason:
            report.outcome = "failed"
            report.longrepr = f"skipped under CI (only GPU-only tests may skip): {reason}"
