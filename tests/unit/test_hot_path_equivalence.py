"""The worker's fast paths give exactly what the plain definitions give, on realistic traffic."""
from __future__ import annotations

import dataclasses
import json
from itertools import islice

from projections.delivery import _replaced, evolve
from projections.timeline import event_row
from schemas.jsonform import event_to_json
from streams.simulation import SimulationPlan, simulate

DAY_US = 86_400_000_000
START_US = 1_790_000_000_000_000


def simulated_events(count: int = 3000):
    plan = SimulationPlan(tenants=("contoso", "fabrikam"), seed=11, start_us=START_US, message_gap_us=60_000_000,
                          not_after_us=START_US + 7 * DAY_US)
    return list(islice(simulate(plan), count))


def test_event_row_payload_json_is_the_json_form_of_the_payload():
    for event in simulated_events():
        expected = json.dumps(event_to_json(event)["payload"], separators=(",", ":"), sort_keys=True)
        assert event_row(event)[-1] == expected


def test_replaced_equals_dataclasses_replace():
    states = {}
    for event in simulated_events():
        key = event.copy_key
        before = states.get(key)
        after = evolve(before, event)
        if before is not None:
            changes = {f.name: getattr(after, f.name) for f in dataclasses.fields(after)
                       if getattr(after, f.name) != getattr(before, f.name)}
            rebuilt = _replaced(before, changes)
            assert rebuilt == dataclasses.replace(before, **changes) == after
            assert hash(rebuilt) == hash(after)
        states[key] = after
