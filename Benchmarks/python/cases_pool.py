"""The process pool (issue 12): the Python peers, all on multiprocessing.Pool with 2 workers
(fork context).

- pool_map_trivial: pool.map(_square, range(200000)) with Pool's default chunksize, on a pool
  started and warm; one op = one map.
- pool_submit_roundtrip: pool.apply_async(_square, (x,)).get(), one at a time; one op = one task.
- pool_start: Pool(2) to its first pool.apply result; terminate() and join() are not timed.
- pool_imap_unordered: 20,000 tasks (4,000 with --quick) of _spin(50): 50 us of busy work on the
  monotonic clock, through imap_unordered with its default chunksize=1; a sample is the
  efficiency, (tasks * 50 us / 2 workers) / elapsed * 100.

Each case's pool is terminated and joined when the harness drops the case's Workload
(weakref.finalize), so no worker outlives bench.py.
"""

import multiprocessing
import time
import weakref

from harness import Workload, case

WORKERS = 2
MAP_ITEMS = 200_000
SPIN_MICROSECONDS = 50


def _square(x):
    return x * x


def _spin(microseconds, clock=time.monotonic_ns):
    """About `microseconds` of work: the same busy loop on the monotonic clock as the Swift side."""
    end = clock() + microseconds * 1000
    while clock() < end:
        pass
    return microseconds


def _pool(workers=WORKERS):
    return multiprocessing.get_context("fork").Pool(workers)


def _stop(pool):
    pool.terminate()
    pool.join()


def _warm_pool(workers=WORKERS):
    """A started pool of `workers` processes that has answered once."""
    pool = _pool(workers)
    try:
        if pool.apply(_square, (7,)) != 49:
            raise RuntimeError("the pool computed 7*7 wrong")
    except BaseException:
        _stop(pool)
        raise
    return pool


def _default_chunksize(items, workers):
    """Pool.map's own default: divmod(len, 4 * workers), rounded up."""
    chunksize, extra = divmod(items, 4 * workers)
    return chunksize + 1 if extra else chunksize


@case("pool_map_trivial", "ms",
      "Pool(2, fork, started and warm).map(x*x, range(200000)), default chunksize; one op = one map")
def pool_map_trivial():
    return pool_map_workload(WORKERS)


def pool_map_workload(workers):
    """pool_map_trivial's work on a pool of `workers` (also the scaling sweep's, cases_scaling.py):
    one iteration = one map of MAP_ITEMS items."""
    pool = _warm_pool(workers)
    squares = pool.map(_square, range(MAP_ITEMS))
    if squares != [x * x for x in range(MAP_ITEMS)]:
        _stop(pool)
        raise RuntimeError("the map returned other values")

    def loop(n, map=pool.map, function=_square, inputs=range(MAP_ITEMS)):
        for _ in range(n):
            map(function, inputs)

    workload = Workload(loop, info={"start_method": "fork", "items": str(MAP_ITEMS), "workers": str(workers),
                                    "chunk_size": str(_default_chunksize(MAP_ITEMS, workers))})
    weakref.finalize(workload, _stop, pool)
    return workload


@case("pool_submit_roundtrip", "us",
      "Pool(2, fork, warm).apply_async(x*x, (x,)).get(), one at a time; one op = one task")
def pool_submit_roundtrip():
    pool = _warm_pool()

    def loop(n, apply_async=pool.apply_async, function=_square):
        for x in range(n):
            apply_async(function, (x & 0xffff,)).get()

    workload = Workload(loop, info={"start_method": "fork", "workers": str(WORKERS)})
    weakref.finalize(workload, _stop, pool)
    return workload


def _start_once():
    """Seconds from Pool(2) to its first apply result; the pool is stopped afterwards (untimed)."""
    start = time.perf_counter()
    pool = _pool()
    try:
        first = pool.apply(_square, (3,))
        seconds = time.perf_counter() - start
    finally:
        _stop(pool)
    if first != 9:
        raise RuntimeError(f"the pool computed 3*3 as {first}")
    return seconds


@case("pool_start", "ms",
      "multiprocessing.get_context('fork').Pool(2) to its first pool.apply result; terminate and join "
      "not timed; one op = one pool")
def pool_start():
    info = {"start_method": "fork", "workers": str(WORKERS)}

    def sampler(settings):
        per_sample = 3 if settings["sample_seconds"] < 0.2 else 6
        info["starts_per_sample"] = str(per_sample)
        _start_once()  # warm up: the first fork of a run pays for cold pages
        return [sum(_start_once() for _ in range(per_sample)) * 1e3 / per_sample
                for _ in range(settings["samples"])]

    return Workload(None, sampler=sampler, info=info)


def _spin_through(pool, tasks):
    """Seconds from the imap_unordered call to its last result; checks that every task answered."""
    start = time.perf_counter()
    answered = sum(pool.imap_unordered(_spin, [SPIN_MICROSECONDS] * tasks))
    seconds = time.perf_counter() - start
    if answered != tasks * SPIN_MICROSECONDS:
        raise RuntimeError(f"{answered // SPIN_MICROSECONDS} of {tasks} tasks answered")
    return seconds


@case("pool_imap_unordered", "%",
      "20,000 tasks of 50 us of busy work (4,000 with --quick) through Pool(2, fork).imap_unordered, "
      "chunksize=1; efficiency = (tasks * 50 us / 2) / elapsed * 100")
def pool_imap_unordered():
    pool = _warm_pool()
    info = {"start_method": "fork", "task_us": str(SPIN_MICROSECONDS), "workers": str(WORKERS), "chunk_size": "1"}

    def sampler(settings):
        tasks = 4_000 if settings["sample_seconds"] < 0.2 else 20_000
        ideal = tasks * SPIN_MICROSECONDS * 1e-6 / WORKERS
        _spin_through(pool, tasks // 10)  # warm up
        elapsed = [_spin_through(pool, tasks) for _ in range(settings["samples"])]
        info.update(tasks=str(tasks), ideal_ms=f"{ideal * 1e3:.4g}",
                    median_elapsed_ms=f"{sorted(elapsed)[len(elapsed) // 2] * 1e3:.4g}")
        return [ideal / seconds * 100 for seconds in elapsed]

    workload = Workload(None, sampler=sampler, info=info)
    weakref.finalize(workload, _stop, pool)
    return workload
