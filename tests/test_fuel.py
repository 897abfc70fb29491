"""Under a fuel limit host calls pay for the work they cause (`pywasi.fuel`): a guest looping on
poll_oneoff (tests/c/fuel_poll.c) runs out after a number of calls bounded by its fuel over
what one call costs, and one with fewer subscriptions makes proportionally more calls."""

from __future__ import annotations

import pytest

import pywasi
from guest import build_c
from pywasi import fuel

FUEL = 20_000_000


def poll_calls(subscriptions: int) -> int:
    """How many polls the guest made before it ran out of fuel (which must end it)."""
    calls: list[pywasi.TraceEvent] = []
    wasi = pywasi.WASI(version="preview1", args=["fuel_poll", str(subscriptions)],
                       limits=pywasi.Limits(fuel=FUEL), trace=calls.append)
    instance = pywasi.instantiate(wasi, build_c("fuel_poll"))
    with pytest.raises(pywasi.OutOfFuel) as caught:
        wasi.start(instance)
    assert caught.value.trap_code == "OUT_OF_FUEL" and caught.value.exit_status == 125
    assert all(call.errno == 0 for call in calls)
    return sum(call.name == "poll_oneoff" for call in calls)


def test_polls_pay_for_their_subscriptions() -> None:
    many = poll_calls(256)
    cost_many = fuel.BASE + 256 * fuel.PER_SUBSCRIPTION
    assert 0 < many <= FUEL // cost_many
    assert many >= FUEL // (cost_many + 1000)  # the loop's wasm costs a few dozen units
    one = poll_calls(1)
    cost_one = fuel.BASE + fuel.PER_SUBSCRIPTION
    assert one <= FUEL // cost_one
    assert one >= FUEL // (cost_one + 1000)
    assert one > many * 100

