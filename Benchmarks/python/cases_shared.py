"""Shared memory (issue 4): the Python peers.

- value_lock_increment: two forked children each do `with v.get_lock(): v.value += 1` on one
  multiprocessing.Value('i'), from one go signal; each times itself (time.perf_counter is
  CLOCK_MONOTONIC, the same clock in every process); rate = all increments / (last end - first
  start); the total is checked.
- atomic_add: Python has no shared atomics; the same Value-under-its-lock work is the peer
  (the issue's comparison for the Swift SharedAtomic).
- array_fill_sum: one op = Array('d', 1_000_000, lock=False), a forked child filling it with a
  loop (a[i] = i * 0.5), joined, the parent summing memoryview(arr).cast('B').cast('d')
  (checked); extra: the same with sum(arr).

Children are forked daemons, joined within their op or sample.
"""

import multiprocessing
import statistics
import time

from harness import Workload, case

ARRAY_LENGTH = 1_000_000
EXPECTED_SUM = (ARRAY_LENGTH - 1) * ARRAY_LENGTH / 4  # sum of i * 0.5


def _increment(value, go, times, index, count):
    while go.value == 0:
        time.sleep(0.00005)
    start = time.perf_counter()
    lock = value.get_lock()
    for _ in range(count):
        with lock:
            value.value += 1
    times[2 * index], times[2 * index + 1] = start, time.perf_counter()


def _contended_increments(context, count):
    value = context.Value("i", 0)
    go = context.RawValue("i", 0)
    times = context.RawArray("d", 4)
    children = [context.Process(target=_increment, args=(value, go, times, i, count), daemon=True) for i in range(2)]
    for child in children:
        child.start()
    go.value = 1
    for child in children:
        child.join()
        if child.exitcode != 0:
            raise RuntimeError(f"an incrementing child exited with {child.exitcode}")
    if value.value != 2 * count:
        raise RuntimeError(f"the two children incremented to {value.value}, not {2 * count}")
    span = max(times[1], times[3]) - min(times[0], times[2])
    together = max(0.0, min(times[1], times[3]) - max(times[0], times[2]))
    return 2 * count / span, together / span


def _increment_workload():
    context = multiprocessing.get_context("fork")

    info = {"start_method": "fork", "processes": "2"}

    def sampler(settings):
        count = 20_000
        while True:  # warm-up and calibration: until a run lasts at least half a sample
            probe, _ = _contended_increments(context, count)
            seconds = 2 * count / probe
            count = max(10_000, int(probe * settings["sample_seconds"] / 2))
            if seconds >= settings["sample_seconds"] / 2:
                break
        results = [_contended_increments(context, count) for _ in range(settings["samples"])]
        info["increments_per_child"] = str(count)
        info["median_overlap_percent"] = str(int(statistics.median(o for _, o in results) * 100))
        return [rate for rate, _ in results]

    return Workload(lambda n: None, info=info, sampler=sampler)


@case("value_lock_increment", "inc/s",
      "two forked children each do `with v.get_lock(): v.value += 1` on one Value('i') from one go "
      "signal; total checked; rate = all increments / (last end - first start)")
def value_lock_increment():
    return _increment_workload()


@case("atomic_add", "inc/s",
      "Python has no shared atomics: the same work as value_lock_increment (Value('i') under "
      "get_lock()), the issue's peer for SharedAtomic.add")
def atomic_add():
    return _increment_workload()


def _fill(array):
    for i in range(len(array)):
        array[i] = i * 0.5


def _fill_sum_loop(context, summing):
    def loop(n):
        for _ in range(n):
            array = context.Array("d", ARRAY_LENGTH, lock=False)
            child = context.Process(target=_fill, args=(array,), daemon=True)
            child.start()
            child.join()
            if child.exitcode != 0:
                raise RuntimeError(f"the filling child exited with {child.exitcode}")
            total = summing(array)
            if total != EXPECTED_SUM:
                raise RuntimeError(f"the array sums to {total}, not {EXPECTED_SUM}")
    return loop


def _sum_memoryview(array):
    return sum(memoryview(array).cast("B").cast("d"))


@case("array_fill_sum", "ms",
      "one op = Array('d', 1_000_000, lock=False), a forked child sets a[i] = i * 0.5 in a loop, "
      "join, sum(memoryview(arr).cast('B').cast('d')) in the parent (checked); extra: sum(arr)")
def array_fill_sum():
    context = multiprocessing.get_context("fork")
    _fill_sum_loop(context, _sum_memoryview)(1)
    return Workload(_fill_sum_loop(context, _sum_memoryview), info={"start_method": "fork"},
                    extras={"sum(arr)": ("ms", Workload(_fill_sum_loop(context, sum)))})
