"""A worked port (docs/PYTHON.md): the main process feeds jobs to two consumer processes over a
Queue; each adds the squares of its jobs to a shared Value under the Value's lock and reports
under a Lock that keeps the report lines whole. Its Swift port is main.swift beside it."""
from multiprocessing import Lock, Process, Queue, Value, current_process


def consume(jobs, total, print_lock):
    handled = 0
    while (n := jobs.get()) is not None:      # None: no more jobs
        with total.get_lock():                # += is a read and a write: hold the lock
            total.value += n * n
        handled += 1
    with print_lock:
        print(f"{current_process().name} handled {handled} jobs")   # the split varies by run


if __name__ == "__main__":
    jobs = Queue()
    total = Value("q", 0)                     # a 64-bit integer with its own lock
    print_lock = Lock()
    consumers = [Process(target=consume, args=(jobs, total, print_lock), name=f"consumer-{i}")
                 for i in (1, 2)]
    for consumer in consumers:
        consumer.start()
    for n in range(1, 1001):
        jobs.put(n)
    for _ in consumers:
        jobs.put(None)
    for consumer in consumers:
        consumer.join()
    print("sum of squares 1...1000:", total.value)
    print("exit codes:", [consumer.exitcode for consumer in consumers])
