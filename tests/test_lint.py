"""Lint and type checks, part of the test command: ruff over the package and the tests, mypy over the
modules ``pyproject.toml`` names (``[tool.ruff]``, ``[tool.mypy]``). Both are pinned in the ``test`` extra."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(tool: str, *args: str) -> subprocess.CompletedProcess:
    if importlib.util.find_spec(tool) is None:
        pytest.fail(f"{tool} is not installed: pip install -e '.[test]' (the test extra pins it)", pytrace=False)
    return subprocess.run([sys.executable, "-m", tool, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def test_ruff_finds_nothing():
    proc = _run("ruff", "check", "--no-cache", "cg_gov", "tests")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_finds_nothing():
    proc = _run("mypy")  # the files and settings of pyproject.toml's [tool.mypy]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("Success: no issues found")
