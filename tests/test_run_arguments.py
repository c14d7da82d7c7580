"""pyns.run checks fn's arguments before it forks, exactly as inspect.signature(fn).bind does
(a plain function's are read from its code object), and builds the spec of the same plain
options once: what it answers must not change for that."""

from __future__ import annotations

import functools
import inspect
import itertools
import os
import socket

import pytest

import pyns
from pyns import child


def _functions() -> list:
    """Functions of every parameter shape (positional-only, defaults, *args, keyword-only,
    **kwargs), as plain functions and as bound methods."""
    sources = [
        "def f(): return 0",
        "def f(a): return a",
        "def f(a, b=2): return a",
        "def f(a, /, b): return a",
        "def f(a=1, /, b=2): return a",
        "def f(a=1, /, **kw): return a",
        "def f(a, *args): return a",
        "def f(*args, b): return b",
        "def f(*, b=2, c): return c",
        "def f(a, /, b=2, *args, c, d=4, **kw): return a",
        "def f(**kw): return 0",
        "def f(*args, **kw): return 0",
        "def f(self, a=1): x = a; return x",
        "def f(self, /, *, a): return a",
        "def f(*args): return len(args)",
    ]
    out = []
    for source in sources:
        scope: dict = {}
        exec(source, scope)
        out.append(scope["f"])

        class C:
            m = scope["f"]

        out.append(C().m)
    return out


#: Call shapes: positional argument counts and keyword names (those of the functions above,
#: ones they do not have, and *args/**kwargs' own names).
_CALLS = [
    (n, kw)
    for n in range(4)
    for kw in [(), ("a",), ("b",), ("c",), ("b", "c"), ("a", "c", "d"), ("kw",), ("z",), ("self",), ("args",)]
]


def _binds(fn, n: int, kw: tuple[str, ...]) -> bool:
    """Whether inspect's bind takes the call (or finds no signature: nothing to check)."""
    try:
        sig = inspect.signature(fn)
    except ValueError:
        return True
    try:
        sig.bind(*range(n), **dict.fromkeys(kw, 0))
    except TypeError:
        return False
    return True


def test_a_plain_function_is_checked_as_inspect_binds_it():
    """Every function shape and call shape: TypeError before the fork (the message names
    run's own keywords) exactly when inspect's bind refuses, else the call goes through."""
    from pyns import call

    refused = 0
    for fn, (n, kw) in itertools.product(_functions(), _CALLS):
        kwargs = dict.fromkeys(kw, 0)
        if _binds(fn, n, kw):
            call._check_arguments(fn, tuple(range(n)), kwargs)
        else:
            refused += 1
            with pytest.raises(TypeError, match=r"does not take these arguments: .*run's own keywords.*timeout, cgroup"):
                call._check_arguments(fn, tuple(range(n)), kwargs)
    assert refused > 100  # the shapes do exercise both answers


def test_run_refuses_before_forking_and_passes_what_binds():
    def two(a, /, b, *, c=3):
        return a, b, c

    with pytest.raises(TypeError, match=r"run\(\): .*two\(\) does not take these arguments: .*missing a required argument: 'b'"):
        pyns.run(two, 1)
    with pytest.raises(TypeError, match=r"does not take these arguments"):
        pyns.run(two, a=1, b=2)  # positional-only by keyword
    with pytest.raises(TypeError, match=r"does not take these arguments"):
        pyns.run(two, 1, 2, 3)
    assert pyns.run(two, 1, 2) == (1, 2, 3)
    assert pyns.run(two, 1, b=2, c=4, uts=True) == (1, 2, 4)  # uts is run's own
    assert pyns.run(_Box(5).add, 1) == 6


class _Box:
    def __init__(self, n: int) -> None:
        self.n = n

    def add(self, k: int) -> int:
        return self.n + k

    def add_two(self, a: int, b: int) -> int:
        return self.n + a + b

    plus_one = functools.partialmethod(add_two, 1)


def test_a_wrapped_function_is_checked_against_what_it_wraps():
    """functools.wraps sets __wrapped__: inspect checks the wrapped signature, so does run."""

    def inner(a):
        return a

    @functools.wraps(inner)
    def outer(*args, **kwargs):
        return inner(*args, **kwargs)

    with pytest.raises(TypeError, match=r"inner\(\) does not take these arguments"):
        pyns.run(outer, 1, 2)
    assert pyns.run(outer, 7) == 7

    def loose(*args):
        return len(args)

    loose.__signature__ = inspect.Signature([inspect.Parameter("x", inspect.Parameter.POSITIONAL_ONLY)])
    with pytest.raises(TypeError, match=r"loose\(\) does not take these arguments"):
        pyns.run(loose, 1, 2)

    # A partialmethod read from its class: a function (self, /, *args, **kwargs) whose
    # signature inspect takes from the partialmethod.
    with pytest.raises(TypeError, match=r"does not take these arguments: too many positional"):
        pyns.run(_Box.plus_one, _Box(1), 2, 3)
    assert pyns.run(_Box.plus_one, _Box(1), 2) == 4


def test_builtins_and_other_callables_are_checked_by_inspect():
    with pytest.raises(TypeError, match=r"getpid\(\) does not take these arguments"):
        pyns.run(os.getpid, 1)
    assert pyns.run(functools.partial(divmod, 7), 2) == (3, 1)
    with pytest.raises(TypeError, match=r"does not take these arguments"):
        pyns.run(functools.partial(divmod, 7), 2, 3)
    assert pyns.run(str, "A", uts=True) == "A"  # no signature: the child's call decides


def test_the_same_options_give_the_same_answers_again():
    """Plain options' specs are built once: a bad value is refused every time, other values
    get their own spec, and the cache stays small."""
    assert pyns.run(os.getpid, uts=True, pid=True) == 2
    for _ in range(2):
        with pytest.raises(TypeError, match="argument 'uts' must be a bool, not int"):
            pyns.run(os.getpid, uts=1, pid=True)
        with pytest.raises(ValueError, match="pdeathsig"):
            pyns.run(os.getpid, uts=True, pdeathsig=99)
    names = [f"h{i}" for i in range(child._MAX_SPECS + 5)]
    assert [pyns.run(socket.gethostname, hostname=h) for h in names] == names
    assert pyns.run(socket.gethostname, hostname=names[0]) == names[0]
    assert 0 < len(child._SPECS) <= child._MAX_SPECS


def test_options_that_depend_on_more_than_their_values_are_not_kept():
    """join (namespaces opened anew), map_root=True (the euid of the moment), user and group
    names (the passwd and group files of the moment) are built for each call."""
    child._SPECS.clear()
    with pyns.Namespace.current("uts") as uts:
        assert pyns.run(socket.gethostname, join={"uts": uts}) == socket.gethostname()
    assert pyns.run(os.getuid, user=True, map_root=True) == 0
    assert pyns.run(os.getuid, user="nobody") == 65534
    assert child._SPECS == {}
    assert pyns.run(os.getuid, user=65534) == 65534
    assert len(child._SPECS) == 1
