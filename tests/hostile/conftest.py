"""Fixtures of the hostile-input cases (issue 15); helpers live in ``_hostile.py``."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from _hostile import FIXTURES


@pytest.fixture
def audit_dir(tmp_path: Path) -> Path:
    """A copy of the valid fixture audit (tests/fixtures/specs/valid): audit.yaml, its profile and jsonl logs."""
    target = tmp_path / "audit"
    shutil.copytree(FIXTURES / "specs" / "valid", target)
    return target


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path
