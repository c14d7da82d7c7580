"""The `pyns` command line: `pyns ls` (like lsns) and `python -m pyns`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

PYNS = [sys.executable, "-m", "pyns"]


def _lsns_json(*args: str) -> dict:
    out = subprocess.run([*PYNS, "ls", "--json", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_ls_lists_a_fresh_namespace_with_its_process():
    p = subprocess.Popen(["unshare", "--uts", "sleep", "30"])
    try:
        time.sleep(0.1)
        ino = os.stat(f"/proc/{p.pid}/ns/uts").st_ino
        rows = _lsns_json("-t", "uts")["namespaces"]
        mine = [r for r in rows if r["ns"] == ino]
        assert mine == [
            {
                "ns": ino,
                "type": "uts",
                "nprocs": 1,
                "pid": p.pid,
                "user": "root",
                "command": "sleep 30",
            }
        ]
        assert all(r["type"] == "uts" for r in rows)
    finally:
        p.kill()
        p.wait()


def test_ls_agrees_with_lsns_for_this_process():
    ours = {(r["ns"], r["type"]) for r in _lsns_json("-p", str(os.getpid()))["namespaces"]}
    out = subprocess.run(
        ["lsns", "-J", "-p", str(os.getpid()), "-o", "NS,TYPE"], capture_output=True, text=True
    )
    theirs = {(int(r["ns"]), r["type"]) for r in json.loads(out.stdout)["namespaces"]}
    assert ours == theirs


def test_ls_table_and_console_script():
    out = subprocess.run([*PYNS, "ls"], capture_output=True, text=True, check=True).stdout
    header = out.splitlines()[0].split()
    assert header == ["NS", "TYPE", "NPROCS", "PID", "USER", "COMMAND"]
    script = os.path.join(os.path.dirname(sys.executable), "pyns")
    assert subprocess.run([script, "ls", "-t", "net"], capture_output=True).returncode == 0


def test_bad_input_is_one_line_and_exit_125():
    r = subprocess.run([*PYNS, "ls", "-p", "99999999"], capture_output=True, text=True)
    assert r.returncode == 125
    assert r.stderr.startswith("pyns: ") and r.stderr.count("\n") == 1
    r = subprocess.run([*PYNS, "ls", "-t", "bogus"], capture_output=True, text=True)
    assert r.returncode == 2 and "invalid choice" in r.stderr
