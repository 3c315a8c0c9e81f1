"""The measuring side of the Python peers, mirroring Benchmarks/Swift/Harness.swift.

A case is registered with @case(name, unit, summary); its function does the untimed set-up and
returns a Workload. Samples are timed in calibrated batches and the median is reported as one
JSON line: {"side":"python","name":..,"unit":..,"median":..,"samples":[..],"info":{..},
"extras":[{"name":..,"unit":..,"median":..}]}. Extras are further figures for the same case
(pickle next to msgpack); the driver prints them as notes.
"""

import json
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

FULL = dict(samples=7, sample_seconds=0.3, warmup_seconds=0.2)
QUICK = dict(samples=5, sample_seconds=0.1, warmup_seconds=0.05)


@dataclass
class Workload:
    """`iteration(n)` runs n iterations of `ops_per_iteration` operations each."""
    iteration: Callable[[int], object]
    ops_per_iteration: int = 1
    info: dict = field(default_factory=dict)
    # name -> (unit, Workload): further figures measured the same way, reported as notes.
    extras: dict = field(default_factory=dict)
    # A case that takes its own samples (several processes timing themselves):
    # sampler(settings) -> list of samples in the case's unit; `iteration` is then unused.
    sampler: Callable[[dict], list] = None


@dataclass
class Case:
    name: str
    unit: str
    summary: str
    set_up: Callable[[], Workload]


CASES: dict = {}


def case(name, unit, summary):
    def register(set_up):
        CASES[name] = Case(name, unit, summary, set_up)
        return set_up
    return register


def value_in_unit(unit, ops, seconds):
    if unit == "us":
        return seconds * 1e6 / ops
    if unit == "ms":
        return seconds * 1e3 / ops
    return ops / seconds


def _time(workload, iterations):
    start = time.perf_counter()
    workload.iteration(iterations)
    return time.perf_counter() - start


def _calibrate(workload, settings):
    iterations, spent, per_iteration = 1, 0.0, float("inf")
    while True:
        seconds = _time(workload, iterations)
        spent += seconds
        per_iteration = min(per_iteration, seconds / iterations)
        if seconds >= 0.02 and spent >= settings["warmup_seconds"]:
            break
        if seconds < 0.02:
            iterations *= 2
    return max(1, round(settings["sample_seconds"] / per_iteration))


def measure(unit, workload, settings):
    """Samples (in `unit`) and the calibrated iteration count."""
    iterations = _calibrate(workload, settings)
    samples = [value_in_unit(unit, iterations * workload.ops_per_iteration, _time(workload, iterations))
               for _ in range(settings["samples"])]
    return samples, iterations


def run_case(c, settings):
    workload = c.set_up()
    if workload.sampler is not None:
        samples, iterations = workload.sampler(settings), 0
    else:
        samples, iterations = measure(c.unit, workload, settings)
    info = dict(workload.info, iterations_per_sample=str(iterations))
    result = dict(side="python", name=c.name, unit=c.unit, median=statistics.median(samples),
                  samples=samples, info=info)
    extras = []
    for extra_name, (extra_unit, extra_workload) in workload.extras.items():
        extra_samples, _ = measure(extra_unit, extra_workload, settings)
        extras.append(dict(name=extra_name, unit=extra_unit, median=statistics.median(extra_samples)))
    if extras:
        result["extras"] = extras
    return json.dumps(result)
