"""The notebooks run in real Jupyter kernels (``pytest --nbmake``, see pyproject.toml)."""

from __future__ import annotations

import asyncio

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Closes the event loop the Jupyter client left behind, so the leak check stays exact."""
    from jupyter_core.utils import _loop

    loop = _loop.get()
    if loop is not None and not loop.is_closed():
        loop.close()
        asyncio.set_event_loop(None)
