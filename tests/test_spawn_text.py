"""spawn's text=, encoding=, errors= and bufsize=, with subprocess's meaning."""

from __future__ import annotations

import asyncio
import io
import subprocess

import pytest

import pyns
import pyns.aio


def test_text_mode_communicate_decodes_with_universal_newlines():
    p = pyns.spawn(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                   user=True, map_root=True)
    out, err = p.communicate("héllo\r\nwörld\r")
    assert (out, err, p.returncode) == ("héllo\nwörld\n", None, 0)


def test_text_mode_pipes_are_text_files():
    p = pyns.spawn(["sh", "-c", "read x; echo got $x; echo err >&2"], stdin=subprocess.PIPE,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, encoding="utf-8",
                   user=True, map_root=True)
    assert isinstance(p.stdout, io.TextIOWrapper) and isinstance(p.stdin, io.TextIOWrapper)
    p.stdin.write("ü\n")
    p.stdin.flush()  # as with subprocess: the bytes below the text layer are buffered
    assert p.stdout.readline() == "got ü\n"
    assert p.stderr.read() == "err\n"
    p.stdin.close()
    p.stdout.close()
    p.stderr.close()
    assert p.wait() == 0


def test_encoding_and_errors():
    p = pyns.spawn(["printf", "caf\\351 \\377"], stdout=subprocess.PIPE, encoding="latin-1",
                   user=True, map_root=True)
    assert p.communicate()[0] == "café ÿ"
    p = pyns.spawn(["printf", "a\\377b"], stdout=subprocess.PIPE, encoding="utf-8",
                   errors="replace", user=True, map_root=True)
    assert p.communicate()[0] == "a\ufffdb"


def test_bufsize():
    p = pyns.spawn(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0,
                   user=True, map_root=True)
    assert isinstance(p.stdin, io.FileIO) and isinstance(p.stdout, io.FileIO)
    assert p.communicate(b"x") == (b"x", None)
    p = pyns.spawn(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=1,
                   text=True, user=True, map_root=True)
    assert p.stdin.line_buffering
    assert p.communicate("y\n") == ("y\n", None)


def test_bad_arguments_before_anything_starts():
    with pytest.raises(TypeError, match="text must be a bool"):
        pyns.spawn(["true"], text="yes")
    with pytest.raises(TypeError, match="encoding must be a str"):
        pyns.spawn(["true"], encoding=8)
    with pytest.raises(LookupError):
        pyns.spawn(["true"], encoding="no-such-codec")
    with pytest.raises(TypeError, match="bufsize must be an int"):
        pyns.spawn(["true"], bufsize=1.5)

    async def main():
        with pytest.raises(ValueError, match="text= is not supported"):
            await pyns.aio.spawn(["true"], text=True)

    asyncio.run(main())
