"""The manager (issue 13): the Python peers, on multiprocessing.Manager() (its server process
started with the default method, fork on Linux) and forked workers.

- manager_dict_ops: a forked worker does d["k"] = i then d["k"] (checked) on d = Manager().dict(),
  in batches on the parent's command; one op = one set+get pair, timed in the worker.
- manager_queue: a forked worker does q.put(SMALL) then q.get() (checked) on q = Manager().Queue(),
  in batches on the parent's command; one op = one put+get pair.
- manager_start: Manager() until usable: started, a first dict() made and one item set; the
  shutdown is not timed.
- manager_atomic_increment: two forked workers, from one go signal, each do N times
  `with lock: d["k"] = d["k"] + 1` (lock = Manager().Lock(), d = Manager().dict()); the total is
  checked; one op = one increment, the time per op = (last end - first start) / 2N. Reported
  beside it (info): the same without the lock, `d["k"] = d["k"] + 1`, and the updates it lost.

Every worker is a forked daemon, stopped and joined when its case ends (weakref.finalize on the
case's Workload), and every manager is shut down, so no process outlives bench.py. The
remote_dict_ops peer is another module's: nothing here is shared with it.
"""

import multiprocessing
import statistics
import time
import weakref

from fixtures import SMALL
from harness import Workload, case

# How long the parent waits for a worker's answer before it calls the worker hung (seconds).
REPLY_TIMEOUT = 120


def _stop(processes, say_stop=()):
    """Asks the workers to stop (each callable in say_stop), then joins or kills them."""
    for stop in say_stop:
        try:
            stop()
        except (OSError, ValueError, EOFError):
            pass
    for process in processes:
        process.join(5)
        if process.is_alive():
            process.terminate()
            process.join(5)
        if process.is_alive():
            process.kill()
            process.join()


# manager_dict_ops


def _dict_worker(control, shared):
    """Runs batches on command: receives n, does n set+get pairs on `shared`, sends back the
    seconds they took (measured here), or a string saying what went wrong."""
    while True:
        n = control.recv()
        if n is None:
            break
        start = time.perf_counter()
        for i in range(n):
            shared["k"] = i
            if shared["k"] != i:
                control.send(f"d['k'] read back {shared['k']!r} after d['k'] = {i}")
                return
        control.send(time.perf_counter() - start)
    control.close()


def _batched_worker(target, shared, what):
    """The Workload of a forked worker running `target(control, shared)` in batches on the
    parent's command (n: do n pairs and send back the seconds; None: stop); `what` names a pair
    in messages. The manager is shut down and the worker joined when the Workload goes."""
    manager, shared = shared
    context = multiprocessing.get_context("fork")
    control, worker_end = context.Pipe()
    worker = context.Process(target=target, args=(worker_end, shared), daemon=True)
    worker.start()
    worker_end.close()

    def stop():
        _stop([worker], [lambda: control.send(None)])
        manager.shutdown()

    info = {"start_method": multiprocessing.get_start_method(), "worker": "fork"}
    inside = []  # (n, seconds in the worker) of each batch

    def loop(n, send=control.send, recv=control.recv, poll=control.poll):
        send(n)
        if not poll(REPLY_TIMEOUT):
            raise TimeoutError(f"the worker did not finish {n} {what} pairs in {REPLY_TIMEOUT} s")
        seconds = recv()
        if isinstance(seconds, str):
            raise RuntimeError(seconds)
        inside.append((n, seconds))
        # The harness times the whole batch in the parent (one command hop per 0.3 s); the
        # worker's own figure for the sample-sized batches is kept in the info.
        largest = max(count for count, _ in inside)
        per_op = sorted(s * 1e6 / count for count, s in inside if count == largest)
        info["inside_worker_us"] = f"{per_op[len(per_op) // 2]:.4g}"

    try:
        loop(1)  # the worker is up and connected to the manager
    except BaseException:
        stop()
        raise
    workload = Workload(loop, info=info)
    weakref.finalize(workload, stop)
    return workload


@case("manager_dict_ops", "us",
      "in a forked worker: d['k'] = i then d['k'] (checked) on d = Manager().dict(); one op = one "
      "set+get pair, timed in the worker per batch")
def manager_dict_ops():
    manager = multiprocessing.Manager()
    return _batched_worker(_dict_worker, (manager, manager.dict()), "set+get")


# manager_queue


def _queue_worker(control, queue, item=SMALL):
    """Runs batches on command: receives n, does n put+get pairs on the manager's `queue`,
    sends back the seconds they took, or a string saying what went wrong."""
    while True:
        n = control.recv()
        if n is None:
            break
        start = time.perf_counter()
        for _ in range(n):
            queue.put(item)
            got = queue.get()
            if got != item:
                control.send(f"q.get() returned {got!r} after q.put({item!r})")
                return
        control.send(time.perf_counter() - start)
    control.close()


@case("manager_queue", "us",
      "in a forked worker: q.put(SMALL) then q.get() (checked) on q = Manager().Queue(); one op = "
      "one put+get pair, timed in the parent per batch")
def manager_queue():
    manager = multiprocessing.Manager()
    return _batched_worker(_queue_worker, (manager, manager.Queue()), "put+get")


# manager_start


def _start_once():
    """Seconds from Manager() to a first dict with one item set; the shutdown is not timed."""
    start = time.perf_counter()
    manager = multiprocessing.Manager()
    try:
        shared = manager.dict()
        shared["k"] = 1
        seconds = time.perf_counter() - start
        if shared["k"] != 1:
            raise RuntimeError(f"the new manager's dict read back {shared['k']!r}, not 1")
    finally:
        manager.shutdown()
    return seconds


@case("manager_start", "ms",
      "multiprocessing.Manager() (its server process started) to its first dict() with one item "
      "set; shutdown not timed; one op = one manager")
def manager_start():
    info = {"start_method": multiprocessing.get_start_method()}

    def sampler(settings):
        per_sample = 3 if settings["sample_seconds"] < 0.2 else 6
        info["starts_per_sample"] = str(per_sample)
        _start_once()  # warm up: the first fork of a run pays for cold pages
        return [sum(_start_once() for _ in range(per_sample)) * 1e3 / per_sample
                for _ in range(settings["samples"])]

    return Workload(None, sampler=sampler, info=info)


# manager_atomic_increment


def _increment_worker(shared, lock, go, times, index, count):
    """Waits for `go`, increments d["k"] `count` times (under `lock` unless it is None), and
    writes when it started and ended into times[2 * index], times[2 * index + 1]."""
    # Connect both proxies before the go signal: a forked proxy opens its connection on first use.
    shared.get("k")
    if lock is not None:
        lock.acquire()
        lock.release()
    while go.value == 0:
        time.sleep(0.00005)
    start = time.perf_counter()
    if lock is None:
        for _ in range(count):
            shared["k"] = shared["k"] + 1
    else:
        for _ in range(count):
            with lock:
                shared["k"] = shared["k"] + 1
    times[2 * index], times[2 * index + 1] = start, time.perf_counter()


def _contended_increments(context, shared, lock, count):
    """Two workers increment d["k"] `count` times each from one go signal. Returns the time per
    increment (us), the share of the span both ran at once, and the final value of d["k"]."""
    shared["k"] = 0
    go = context.RawValue("i", 0)
    times = context.RawArray("d", 4)
    workers = [context.Process(target=_increment_worker, args=(shared, lock, go, times, i, count), daemon=True)
               for i in range(2)]
    for worker in workers:
        worker.start()
    try:
        go.value = 1
        for worker in workers:
            worker.join(REPLY_TIMEOUT)
            if worker.exitcode != 0:
                raise RuntimeError(f"an incrementing worker exited with {worker.exitcode}")
    finally:
        _stop(workers)
    span = max(times[1], times[3]) - min(times[0], times[2])
    together = max(0.0, min(times[1], times[3]) - max(times[0], times[2]))
    return span * 1e6 / (2 * count), together / span, shared["k"]


@case("manager_atomic_increment", "us",
      "two forked workers each do `with lock: d['k'] = d['k'] + 1` N times (Manager().Lock(), "
      "Manager().dict()) from one go signal; total checked; one op = one increment, "
      "(last end - first start) / 2N; info: the same without the lock and its lost updates")
def manager_atomic_increment():
    manager = multiprocessing.Manager()
    context = multiprocessing.get_context("fork")
    shared = manager.dict()
    lock = manager.Lock()
    info = {"start_method": multiprocessing.get_start_method(), "workers": "2 (fork)"}

    def locked(count):
        per_increment, overlap, total = _contended_increments(context, shared, lock, count)
        if total != 2 * count:
            raise RuntimeError(f"the two workers incremented under the lock to {total}, not {2 * count}")
        return per_increment, overlap

    def sampler(settings):
        count = 100
        while True:  # warm-up and calibration: until a run lasts at least half a sample
            per_increment, _ = locked(count)
            seconds = 2 * count * per_increment * 1e-6
            count = max(100, int(settings["sample_seconds"] / 2 / (per_increment * 1e-6)))
            if seconds >= settings["sample_seconds"] / 2:
                break
        results = [locked(count) for _ in range(settings["samples"])]
        # Without the lock: a get and a set, two round trips, in which the other worker's
        # increments between them are overwritten (lost).
        unlocked = [_contended_increments(context, shared, None, count) for _ in range(max(3, settings["samples"] // 2))]
        lost = [2 * count - total for _, _, total in unlocked]
        info.update(increments_per_worker=str(count),
                    median_overlap_percent=str(int(statistics.median(o for _, o in results) * 100)),
                    unlocked_us=f"{statistics.median(us for us, _, _ in unlocked):.4g}",
                    unlocked_increments=str(2 * count),
                    unlocked_lost_updates=str(int(statistics.median(lost))),
                    unlocked_overlap_percent=str(int(statistics.median(o for _, o, _ in unlocked) * 100)))
        return [us for us, _ in results]

    workload = Workload(None, sampler=sampler, info=info)
    weakref.finalize(workload, manager.shutdown)
    return workload
