"""Processes and round trips between them (issue 3): the Python peers.

- process_start_join: start and join a child doing nothing, fork context (extra: spawn).
- pipe_roundtrip: a small dict sent over multiprocessing.Pipe() to a child that echoes it.
- routed_roundtrip: one Manager().dict() read, d["k"], from the parent.
- routed_worker_roundtrip: worker A puts a request on one mp.Queue, worker B gets it and puts
  the reply on another, A gets it; A times its batches and reports them to the parent.

Every child is a daemon (multiprocessing terminates daemons at exit) and each case's children
are stopped and joined when the harness drops the case's Workload (weakref.finalize: right
after the case in CPython, else at exit), so no process outlives bench.py.
"""

import multiprocessing
import time
import weakref

from fixtures import SMALL
from harness import Workload, case

# How long the parent waits for a reply before it calls a child hung (seconds).
REPLY_TIMEOUT = 120


def _nothing():
    pass


def _start_join_loop(context):
    def loop(n, process=context.Process, target=_nothing):
        for _ in range(n):
            child = process(target=target)
            child.start()
            child.join()
            if child.exitcode != 0:
                raise RuntimeError(f"the child exited with {child.exitcode}")
    return loop


@case("process_start_join", "ms",
      "Process(target=<does nothing>).start() then .join(), fork context; one op = one child; "
      "extra: the spawn context")
def process_start_join():
    fork = multiprocessing.get_context("fork")
    spawn = multiprocessing.get_context("spawn")
    _start_join_loop(fork)(1)  # the fork and join path works
    # spawn: about 80 ms a child, so the harness takes only a few per sample (0.3 s).
    workload = Workload(_start_join_loop(fork), info={"start_method": "fork"},
                        extras={"spawn": ("ms", Workload(_start_join_loop(spawn)))})
    weakref.finalize(workload, _stop_resource_tracker)
    return workload


def _stop_resource_tracker():
    """spawn starts multiprocessing's resource tracker process, which would otherwise outlive
    bench.py for a moment (it exits when it sees bench.py gone): stop and reap it."""
    from multiprocessing import resource_tracker
    stop = getattr(resource_tracker._resource_tracker, "_stop", None)
    if stop is not None:
        stop()


def _stop(processes, say_stop=()):
    """Asks the children to stop (each callable in say_stop), then joins or terminates them."""
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


def _echo(conn):
    while True:
        message = conn.recv()
        if message is None:
            break
        conn.send(message)
    conn.close()


def _start_pipe_child(target):
    """Forks a daemon child running target(conn) over multiprocessing.Pipe(); returns the
    parent's end and the child. The parent's copy of the child's end is closed, so the parent
    sees EOFError if the child dies."""
    context = multiprocessing.get_context("fork")
    parent_end, child_end = context.Pipe()
    child = context.Process(target=target, args=(child_end,), daemon=True)
    child.start()
    child_end.close()
    return parent_end, child


@case("pipe_roundtrip", "us",
      "conn.send({'id','name','value'}) then blocking conn.recv() of the echo, over "
      "multiprocessing.Pipe() to a forked child running recv/send; one op = one round trip")
def pipe_roundtrip():
    parent_end, child = _start_pipe_child(_echo)
    parent_end.send(SMALL)
    if not parent_end.poll(REPLY_TIMEOUT) or parent_end.recv() != SMALL:
        _stop([child], [lambda: parent_end.send(None)])
        raise RuntimeError("the echo child did not echo")

    def loop(n, send=parent_end.send, recv=parent_end.recv, message=SMALL):
        for _ in range(n):
            send(message)
            recv()

    workload = Workload(loop, info={"start_method": "fork"})
    weakref.finalize(workload, _stop, [child], [lambda: parent_end.send(None)])
    return workload


@case("routed_roundtrip", "us",
      "d['k'] on d = multiprocessing.Manager().dict() holding {'id','name','value'}: a request to "
      "the manager's server process and its reply; one op = one read")
def routed_roundtrip():
    manager = multiprocessing.Manager()
    try:
        shared = manager.dict()
        shared["k"] = SMALL
        if shared["k"] != SMALL:
            raise RuntimeError("the manager returned something else")
    except BaseException:
        manager.shutdown()
        raise

    def loop(n, shared=shared):
        for _ in range(n):
            shared["k"]

    workload = Workload(loop, info={"start_method": multiprocessing.get_start_method()})
    weakref.finalize(workload, manager.shutdown)
    return workload


def _worker_b(requests, replies):
    while True:
        message = requests.get()
        if message is None:
            break
        replies.put(message)


def _worker_a(control, requests, replies):
    """Runs batches on command: receives n, does n round trips through B, sends back the
    seconds they took (measured here, in A)."""
    while True:
        n = control.recv()
        if n is None:
            break
        put, get, message = requests.put, replies.get, SMALL
        start = time.perf_counter()
        for _ in range(n):
            put(message)
            get()
        control.send(time.perf_counter() - start)
    requests.put(None)  # B stops too
    control.close()


@case("routed_worker_roundtrip", "us",
      "in worker A: requests.put({'id','name','value'}) then replies.get(), worker B doing "
      "requests.get() then replies.put(msg), two multiprocessing.Queue; one op = one round trip, "
      "timed in A per batch")
def routed_worker_roundtrip():
    context = multiprocessing.get_context("fork")
    requests, replies = context.Queue(), context.Queue()
    control, a_end = context.Pipe()
    worker_b = context.Process(target=_worker_b, args=(requests, replies), daemon=True)
    worker_a = context.Process(target=_worker_a, args=(a_end, requests, replies), daemon=True)
    worker_b.start()
    worker_a.start()
    a_end.close()
    stop = [lambda: control.send(None)]

    info = {"start_method": "fork"}
    inside_a = []  # (n, seconds in A) of each batch

    def loop(n, send=control.send, recv=control.recv, poll=control.poll):
        send(n)
        if not poll(REPLY_TIMEOUT):
            raise TimeoutError(f"worker A did not finish {n} round trips in {REPLY_TIMEOUT} s")
        seconds = recv()
        inside_a.append((n, seconds))
        # The harness times the whole call in the parent (one extra command hop per batch of
        # 0.3 s); A's own figure for the sample-sized batches is kept in the info.
        largest = max(count for count, _ in inside_a)
        per_op = sorted(s * 1e6 / count for count, s in inside_a if count == largest)
        info["inside_a_us"] = f"{per_op[len(per_op) // 2]:.4g}"

    try:
        loop(1)  # both workers are up and the queues work
    except BaseException:
        _stop([worker_a, worker_b], stop)
        raise
    workload = Workload(loop, info=info)
    weakref.finalize(workload, _stop, [worker_a, worker_b], stop)
    return workload
