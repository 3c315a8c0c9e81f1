"""Queues between processes (issue 5): the Python peers.

- queue_small: one producer process puts {'id','name','value'} dicts on a multiprocessing.Queue,
  one consumer process gets them.
- queue_1k: the same with {'id', 'payload': 1 KiB of bytes}.
- queue_2x2: two producers, two consumers, one multiprocessing.Queue.

(manager_queue is gone: its Swift side was queue_small's, so it set our Queue against
Manager().Queue(), another kind of queue (a proxy: every put and get a round trip to the
manager's server process). queue_small already sets our Queue against multiprocessing.Queue
under that load; a manager case comes back with the Swift manager, issue #13.)

One round, as on the Swift side: each producer gets a command n over its own Pipe, puts n
items, and answers on that Pipe; the parent then polls q.qsize() (every 100 us) until it is 0:
every item was got. One op = one item. Children are forked daemons, stopped and joined when the
harness drops the workload.
"""

import multiprocessing
import time
import weakref

from cases_process import _stop as stop_processes
from fixtures import BINARY, SMALL
from harness import Workload, case

REPLY_TIMEOUT = 120


def _producer(control, queue, item):
    put = queue.put
    while True:
        n = control.recv()
        if n is None:
            break
        for _ in range(n):
            put(item)
        control.send(n)
    control.close()


def _consumer(queue):
    get = queue.get
    while get() is not None:
        pass


def _stop(processes, controls, queue, consumers):
    """Tells each producer (over its Pipe) and each consumer (a None item) to stop, then joins."""
    say_stop = [lambda control=control: control.send(None) for control in controls]
    say_stop += [lambda: queue.put(None)] * consumers
    stop_processes(processes, say_stop)


def _queue_workload(item, producers, consumers, per_round=10_000):
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    controls, processes = [], []
    for _ in range(producers):
        mine, theirs = context.Pipe()
        process = context.Process(target=_producer, args=(theirs, queue, item), daemon=True)
        process.start()
        theirs.close()
        controls.append(mine)
        processes.append(process)
    for _ in range(consumers):
        process = context.Process(target=_consumer, args=(queue,), daemon=True)
        process.start()
        processes.append(process)

    def loop(n, controls=controls, qsize=queue.qsize, sleep=time.sleep):
        # n rounds of per_round items each (the harness calibrates n).
        for _ in range(n):
            for control in controls:
                control.send(per_round // producers)
            for control in controls:
                if not control.poll(REPLY_TIMEOUT):
                    raise TimeoutError("a producer did not answer")
                control.recv()
            while qsize() > 0:
                sleep(0.0001)

    def stop():
        _stop(processes, controls, queue, consumers)

    try:
        loop(1)
    except BaseException:
        stop()
        raise
    workload = Workload(loop, ops_per_iteration=per_round // producers * producers,
                        info={"start_method": "fork", "producers": str(producers), "consumers": str(consumers)})
    weakref.finalize(workload, stop)
    return workload


@case("queue_small", "msg/s",
      "one producer process puts {'id','name','value'} on a multiprocessing.Queue, one consumer "
      "process gets them; one op = one item")
def queue_small():
    return _queue_workload(SMALL, 1, 1)


@case("queue_1k", "msg/s", "as queue_small with {'id', 'payload': 1 KiB of bytes}")
def queue_1k():
    return _queue_workload(BINARY, 1, 1)


@case("queue_2x2", "msg/s", "two producer processes, two consumer processes, one multiprocessing.Queue")
def queue_2x2():
    return _queue_workload(SMALL, 2, 2)
