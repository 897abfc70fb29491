"""clock_res_get reports the host's resolution of each clock, not a constant."""

from __future__ import annotations

import time

import pytest

from bound import bound
from pywasi.abi.types import Clockid

pytestmark = pytest.mark.one_path

HOST_CLOCKS = {
    Clockid.REALTIME: time.CLOCK_REALTIME,
    Clockid.MONOTONIC: time.CLOCK_MONOTONIC,
    Clockid.PROCESS_CPUTIME_ID: time.CLOCK_PROCESS_CPUTIME_ID,
    Clockid.THREAD_CPUTIME_ID: time.CLOCK_THREAD_CPUTIME_ID,
}


def resolutions() -> dict[Clockid, int]:
    calls = bound()
    found = {}
    for clock in HOST_CLOCKS:
        assert calls("clock_res_get", clock, 8) == 0
        found[clock] = calls.u64(8)
    return found


def test_resolutions_are_the_hosts() -> None:
    expected = {clock: max(1, round(time.clock_getres(host) * 1e9))
                for clock, host in HOST_CLOCKS.items()}
    assert resolutions() == expected


def test_a_coarse_host_clock_is_reported_as_coarse(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine's clocks may all tick in 1 ns, so a host with coarser ones is faked."""
    seconds = {time.CLOCK_REALTIME: 0.004, time.CLOCK_MONOTONIC: 1e-6,
               time.CLOCK_PROCESS_CPUTIME_ID: 2e-7, time.CLOCK_THREAD_CPUTIME_ID: 3e-8}
    monkeypatch.setattr(time, "clock_getres", seconds.__getitem__)
    assert resolutions() == {Clockid.REALTIME: 4_000_000, Clockid.MONOTONIC: 1000,
                             Clockid.PROCESS_CPUTIME_ID: 200, Clockid.THREAD_CPUTIME_ID: 30}
