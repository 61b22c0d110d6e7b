"""Fixtures shared by every test module (helpers to import are in tests/support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import SHARED_DATA


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data``; the test is skipped when it is absent (a user's clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available at {SHARED_DATA}")
    return SHARED_DATA
