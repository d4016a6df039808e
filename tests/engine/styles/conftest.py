"""Fixtures for the style library tests."""

from __future__ import annotations

import pytest

from engine.styles.library import Library


@pytest.fixture
def lib(tmp_path) -> Library:
    """An empty user library and an empty bundled folder."""
    (tmp_path / "bundled").mkdir()
    return Library(tmp_path / "user", bundled_dir=tmp_path / "bundled")
