"""How cost grows (issue 15): the Python peers of Benchmarks/Swift/ScalingCases.swift.

Each point of a sweep is a case of its own, its parameter in its name, as on the Swift side;
Benchmarks/plot runs them and draws the charts (Benchmarks/run does not list them).

- scale_queue_small_p{N}, N in 1, 2, 4, 8: queue_small's work (cases_queue.py) with N producer
  and N consumer processes on one multiprocessing.Queue; one op = one item.
- scale_pool_map_w{N}, N in 1, 2, 4, 8: pool_map_trivial's work (cases_pool.py) on Pool(N);
  in items per second (one map = 200,000 items).
- scale_payload_roundtrip_{B}, B = 16, 64, ... 16 MiB: conn.send_bytes of B bytes then
  conn.recv_bytes() of the echo, over multiprocessing.Pipe() to a forked child running
  send_bytes(recv_bytes()); one op = one round trip.
- scale_process_start_{N}, N in 1, 2, 5, 10, 20, 50, 100, 200: N fork-context Processes of a
  function doing nothing, started one after another, then all joined; one op = the batch.
"""

import multiprocessing
import weakref

from cases_pool import MAP_ITEMS, pool_map_workload
from cases_process import REPLY_TIMEOUT, _nothing, _start_pipe_child, _stop
from cases_queue import _queue_workload
from fixtures import SMALL
from harness import Workload, case

# The same points as ScalingCases.swift.
PROCESS_COUNTS = (1, 2, 4, 8)
PAYLOAD_SIZES = tuple(1 << (2 * k) for k in range(2, 13))
CHILD_COUNTS = (1, 2, 5, 10, 20, 50, 100, 200)


def _echo_bytes(conn):
    """Echoes every message's bytes until an empty one (stop)."""
    while True:
        data = conn.recv_bytes()
        if not data:
            break
        conn.send_bytes(data)
    conn.close()


def _payload_workload(size):
    payload = bytes(i % 251 for i in range(251)) * (size // 251) + bytes(i % 251 for i in range(size % 251))
    parent_end, child = _start_pipe_child(_echo_bytes)
    stop = [lambda: parent_end.send_bytes(b"")]
    parent_end.send_bytes(payload)
    if not parent_end.poll(REPLY_TIMEOUT) or parent_end.recv_bytes() != payload:
        _stop([child], stop)
        raise RuntimeError("the echo child did not echo the payload")

    def loop(n, send=parent_end.send_bytes, recv=parent_end.recv_bytes, payload=payload):
        for _ in range(n):
            send(payload)
            recv()

    workload = Workload(loop, info={"start_method": "fork", "bytes": str(size)})
    weakref.finalize(workload, _stop, [child], stop)
    return workload


def _start_join_all(count):
    def loop(n, process=multiprocessing.get_context("fork").Process, target=_nothing):
        for _ in range(n):
            children = [process(target=target) for _ in range(count)]
            for child in children:
                child.start()
            for child in children:
                child.join()
            if any(child.exitcode != 0 for child in children):
                raise RuntimeError("a child exited with a non-zero status")
    return Workload(loop, info={"start_method": "fork", "children": str(count)})


def _register():
    """One case per point of each sweep (a function per case: @case keeps the set-up)."""
    for n in PROCESS_COUNTS:
        case(f"scale_queue_small_p{n}", "msg/s",
             f"queue_small with {n} producer and {n} consumer processes on one multiprocessing.Queue")(
            lambda n=n: _queue_workload(SMALL, n, n))
        case(f"scale_pool_map_w{n}", "item/s",
             f"pool_map_trivial on Pool({n}, fork): map(x*x, range({MAP_ITEMS})), in items per second")(
            lambda n=n: _with_ops(pool_map_workload(n), MAP_ITEMS))
    for size in PAYLOAD_SIZES:
        case(f"scale_payload_roundtrip_{size}", "us",
             f"conn.send_bytes({size} bytes) then conn.recv_bytes() of the echo over multiprocessing.Pipe()")(
            lambda size=size: _payload_workload(size))
    for count in CHILD_COUNTS:
        case(f"scale_process_start_{count}", "ms",
             f"start {count} fork-context Processes doing nothing, then join them all; one op = the batch")(
            lambda count=count: _start_join_all(count))


def _with_ops(workload, ops):
    """The workload counted as `ops` operations per iteration (a map's items, for a rate)."""
    workload.ops_per_iteration = ops
    return workload


_register()
