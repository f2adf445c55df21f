"""The training schedule: a run cut by --max-minutes still anneals its learning rate to zero."""

from __future__ import annotations

import time

from ragsift.train.loop import Schedule, StepClock, linear_warmup_decay


def test_without_a_time_cap_the_schedule_is_the_planned_one():
    schedule = Schedule(100, 0.1, StepClock(None))
    factors = [schedule.factor(step) for step in range(100)]
    assert factors == [linear_warmup_decay(step, 100, 10) for step in range(100)]
    assert schedule.total == 100


def test_a_time_cap_replans_the_decay_over_the_steps_that_fit():
    clock = StepClock(0.5 / 60)  # half a second
    schedule = Schedule(10_000, 0.1, clock)
    factors = []
    step = 0
    while not clock.expired():
        factors.append(schedule.factor(step))
        time.sleep(0.01)  # one "step"
        step += 1
    assert schedule.total < 10_000  # far fewer steps fit than were planned
    assert schedule.warmup == int(0.1 * schedule.total)
    peak = factors.index(max(factors))
    assert max(factors) > 0.5 and factors[-1] < 0.25 < factors[peak]  # warmed up, then decayed to near 0 by the deadline
    assert linear_warmup_decay(schedule.total, schedule.total, schedule.warmup) == 0.0
