"""The code blocks of docs/getting-started.md run as written: those under "As root" as root,
those under "Rootless" also as uid 65534. Each block runs in a fresh interpreter."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

PAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs",
                    "getting-started.md")


def blocks(section: str) -> list[str]:
    """The ```python blocks of the page's `section` (a "## " heading)."""
    with open(PAGE, encoding="utf-8") as f:
        text = f.read()
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    body = dict(zip(parts[1::2], parts[2::2]))[section]
    return re.findall(r"^```python\n(.*?)^```$", body, flags=re.M | re.S)


def test_the_page_has_blocks_in_both_sections():
    assert len(blocks("As root")) >= 3 and len(blocks("Rootless")) >= 2


@pytest.mark.requires_root
@pytest.mark.parametrize("code", blocks("As root") + blocks("Rootless"))
def test_block_as_root(code, tmp_path):
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr


@pytest.mark.requires_userns
@pytest.mark.parametrize("code", blocks("Rootless"))
def test_block_rootless(code, nobody):
    r = nobody(code)
    assert r.returncode == 0, r.stderr
