"""Fixtures of the app's tests."""

from __future__ import annotations

import sys

import pytest


@pytest.fixture(autouse=True)
def real_main_module():
    """Streamlit runs the page as a fake ``__main__`` module and leaves it in ``sys.modules``;
    put the real one back, or processes spawned later in the session (Dask's workers) would
    run the page as their main module and fail to start."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main
