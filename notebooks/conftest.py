"""The notebooks run in real Jupyter kernels (``pytest --nbmake``, see pyproject.toml); the
leak guard of tests/leakguard.py checks after each one too."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from leakguard import pytest_runtest_setup, pytest_runtest_teardown  # noqa: E402, F401 (hooks)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Closes the event loop the Jupyter client left behind, so the leak check stays exact."""
    from jupyter_core.utils import _loop

    loop = _loop.get()
    if loop is not None and not loop.is_closed():
        loop.close()
        asyncio.set_event_loop(None)
