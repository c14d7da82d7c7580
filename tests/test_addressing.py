"""pyns.testing.addressing: subnets handed out and reserved, addresses numbered (no root)."""

from __future__ import annotations

import ipaddress
from typing import Optional

import pytest
from hypothesis import given, settings, strategies as st

from pyns.testing.addressing import AUTO, Subnets, interface, network, nth


def test_automatic_subnets_are_the_24s_of_10_in_order() -> None:
    s = Subnets()
    assert [str(s.claim()) for _ in range(3)] == ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]
    assert str(s.claim("192.168.1.0/24")) == "192.168.1.0/24"
    assert str(s.claim()) == "10.0.3.0/24"


def test_automatic_subnets_skip_explicit_ones_and_never_come_back() -> None:
    s = Subnets()
    s.claim("10.0.1.0/25")
    s.claim("10.0.2.128/25")
    assert [str(s.claim()) for _ in range(2)] == ["10.0.0.0/24", "10.0.3.0/24"]
    assert str(s.claim("10.0.1.128/25")) == "10.0.1.128/25"  # the skipped /24's other half


def test_overlaps_are_refused_naming_both() -> None:
    s = Subnets()
    s.claim()
    with pytest.raises(ValueError, match=r"10\.0\.0\.0/16 overlaps 10\.0\.0\.0/24, used already"):
        s.claim("10.0.0.0/16")
    s.claim("172.16.0.0/16")
    with pytest.raises(ValueError, match=r"172\.16\.5\.0/24 overlaps 172\.16\.0\.0/16"):
        s.claim("172.16.5.0/24")
    with pytest.raises(ValueError, match="overlaps"):
        s.claim("0.0.0.0/0")
    s.claim("fd00::/64")
    with pytest.raises(ValueError, match="overlaps fd00::/64"):
        s.claim("fd00::/48")


def test_bad_subnets_are_type_and_value_errors() -> None:
    s = Subnets()
    with pytest.raises(TypeError, match="subnet must be a str"):
        s.claim(24)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bad subnet '10.0.0.1/24'"):
        s.claim("10.0.0.1/24")
    with pytest.raises(ValueError, match="bad subnet '10.0.0.0/33'"):
        network("10.0.0.0/33", "subnet")
    with pytest.raises(ValueError, match="no automatic IPv6 subnets"):
        s.claim(version=6)
    with pytest.raises(TypeError, match="addresses must be strs"):
        interface(1)
    with pytest.raises(ValueError, match="bad address 'x'"):
        interface("x")


def test_a_pool_runs_out() -> None:
    s = Subnets({4: (ipaddress.ip_network("10.0.0.0/22"), 24)})
    assert [str(s.claim()) for _ in range(4)][-1] == "10.0.3.0/24"
    with pytest.raises(ValueError, match=r"no free /24 left in 10\.0\.0\.0/22"):
        s.claim()
    with pytest.raises(ValueError, match=r"cannot cut /7 subnets out of 10\.0\.0\.0/8"):
        Subnets({4: (AUTO, 7)})


def test_an_ipv6_pool_hands_out_64s() -> None:
    s = Subnets({4: (AUTO, 24), 6: (ipaddress.ip_network("fd00::/48"), 64)})
    assert str(s.claim(version=6)) == "fd00::/64"
    s.claim("fd00:0:0:1::/64")
    assert str(s.claim(version=6)) == "fd00:0:0:2::/64"
    with pytest.raises(ValueError, match="fd00::/60 overlaps fd00:0:0:1::/64"):
        s.claim("fd00::/60")
    with pytest.raises(ValueError, match="fd00:0:0:2::/63 overlaps fd00:0:0:2::/64"):
        s.claim("fd00:0:0:2::/63")


def test_nth_numbers_addresses_from_one_and_skips_broadcast() -> None:
    net = ipaddress.ip_network("10.0.0.0/30")
    assert [str(nth(net, i)) for i in (1, 2)] == ["10.0.0.1/30", "10.0.0.2/30"]
    with pytest.raises(ValueError, match="no room for an address number 3"):
        nth(net, 3)
    assert str(nth(ipaddress.ip_network("10.0.0.0/31"), 1)) == "10.0.0.1/31"
    assert str(nth(ipaddress.ip_network("fd00::/126"), 3)) == "fd00::3/126"
    with pytest.raises(ValueError, match="start at 1"):
        nth(net, 0)


subnet_requests = st.lists(
    st.one_of(
        st.none(),
        st.builds(
            lambda addr, plen: str(ipaddress.ip_network((addr, plen), strict=False)),
            st.integers(0x0A000000, 0x0A00FFFF) | st.integers(0xC0A80000, 0xC0A8FFFF),
            st.integers(16, 30),
        ),
    ),
    max_size=40,
)


@settings(max_examples=80, deadline=None)
@given(subnet_requests)
def test_claimed_subnets_never_overlap(requests: list[Optional[str]]) -> None:
    s = Subnets()
    held: list[ipaddress.IPv4Network] = []
    for r in requests:
        try:
            got = s.claim(r)
        except ValueError:
            assert r is not None
            # refused: it really overlaps something held
            assert any(ipaddress.ip_network(r).overlaps(h) for h in held)
            continue
        assert isinstance(got, ipaddress.IPv4Network)
        if r is None:
            assert got.prefixlen == 24 and got.subnet_of(AUTO)
        else:
            assert str(got) == r
        assert not any(got.overlaps(h) for h in held), (got, held)
        held.append(got)


def test_every_ipv4_subnet_has_a_distinct_ipv6_twin() -> None:
    from pyns.testing.addressing import mirror, mirror_address

    net = ipaddress.ip_network
    assert str(mirror(net("10.0.0.0/24"))) == "fd00::/64"
    assert str(mirror(net("10.0.17.0/24"))) == "fd00:0:0:11::/64"
    assert str(mirror(net("10.255.255.0/24"))) == "fd00:0:0:ffff::/64"
    assert str(mirror(net("192.168.7.0/24"))) == "fd00:1:c0a8:700::/64"
    assert str(mirror(net("10.0.0.0/30"))) == "fd00:1:a00::/64"
    assert mirror(net("10.0.0.0/30")) != mirror(net("10.0.0.4/30"))
    iface = ipaddress.ip_interface("10.0.3.2/24")
    assert str(mirror_address(iface, mirror(iface.network))) == "fd00:0:0:3::2/64"
    s = Subnets()
    a = s.claim()
    assert str(s.twin(a)) == "fd00::/64" and s.twin(net("fd00:9::/64")) is None
    with pytest.raises(ValueError, match="overlaps fd00::/64"):
        s.claim("fd00::/60")
    s.release(a)  # the twin goes with it
    s.claim("fd00::/60")
    assert s.twin(s.claim()) is None  # its twin would overlap fd00::/60: IPv4 only
