"""mpctl (issue 14): the Python peer of pipeline_exec.

- pipeline_exec: multiprocessing Pool(2, fork).imap(_same, lines, chunksize=1) over "item-N"
  strings, results consumed in order and checked; a sample is items per second over 20,000
  items (4,000 with --quick). The pool is started once (untimed), as mpctl exec is on the Swift
  side.
"""

import multiprocessing
import time
import weakref

from harness import Workload, case


def _same(line):
    return line


def _stop(pool):
    pool.terminate()
    pool.join()


@case("pipeline_exec", "item/s",
      "Pool(2, fork).imap(same, lines, chunksize=1), started once; each line back in order; one op = one item")
def pipeline_exec():
    pool = multiprocessing.get_context("fork").Pool(2)
    state = {"next": 0}
    info = {"workers": "2", "start_method": "fork", "chunk_size": "1"}

    def through(count):
        first = state["next"]
        state["next"] += count
        lines = [f"item-{n}" for n in range(first, first + count)]
        start = time.perf_counter()
        for expected, line in zip(lines, pool.imap(_same, lines, chunksize=1)):
            if line != expected:
                raise RuntimeError(f"got {line}, expected {expected}")
        return time.perf_counter() - start

    def sampler(settings):
        items = 4_000 if settings["sample_seconds"] < 0.2 else 20_000
        info["items_per_sample"] = str(items)
        through(items // 4)
        return [items / through(items) for _ in range(settings["samples"])]

    workload = Workload(None, sampler=sampler, info=info)
    weakref.finalize(workload, _stop, pool)
    return workload
