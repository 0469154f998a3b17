"""Fixtures of the mirror tests (issue 15, docs/remote.md).

two_hosts: parametrized over the two variants of twohost.TwoHosts. The
loopback one always runs; the netns one (two network namespaces over a veth
pair, with link_down()/link_up()) needs root and `ip netns`, and is reported
as skipped, with the reason, otherwise. The daemons are not started: each
test starts them (two_hosts.start(extra), or .a.start()/.b.start()) with the
flags it needs. Everything is torn down after the test, passed or not.

ctest sets TSHMD, TSHM_CLI and PYTHONPATH (tests/remote/CMakeLists.txt).
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import twohost  # noqa: E402

for _var in ("TSHMD", "TSHM_CLI"):
    if not os.environ.get(_var):
        raise RuntimeError(f"{_var} is not set: run through ctest (label remote)")


@pytest.fixture(params=["loopback", "netns"])
def two_hosts(request):
    if request.param == "netns":
        if os.geteuid() != 0:
            pytest.skip("the netns variant needs root (ip netns, veth)")
        if not twohost.netns_usable():
            pytest.fail("root, but 'ip netns add' fails: is iproute2 installed "
                        "(scripts/deps.sh) and are network namespaces allowed?")
    hosts = twohost.TwoHosts(netns=request.param == "netns")
    try:
        yield hosts
    finally:
        hosts.close()
