"""mkdocs hook: the house style documents several parameters on one line, continued on the
next ("cgroup, ipc, ..., gid_map,\\n    map_root, ...: as for spawn"), which griffe's Google
parser reports as a warning; ``mkdocs build --strict`` would fail on it. Only that message is
dropped: broken references, missing pages and other warnings still fail the build."""

from __future__ import annotations

import logging
from typing import Any

GROUPED = "Failed to get 'name: description' pair from"


class _Grouped(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return GROUPED not in record.getMessage()


def on_startup(**kwargs: Any) -> None:
    logging.getLogger("mkdocs.plugins.griffe").addFilter(_Grouped())
