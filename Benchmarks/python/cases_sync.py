"""Synchronization across processes (issue 4): the Python peers.

- event_pingpong: one op = a round trip between this process and a forked child through two
  multiprocessing.Event objects (set ping / wait pong / clear); per sample a new child, 200
  warm-up rounds untimed.
"""

import multiprocessing
import time

from harness import Workload, case

WARM_UP = 200


def _answer(ping, pong, rounds):
    for _ in range(rounds):
        if not ping.wait(60):
            raise RuntimeError("no ping within 60 s")
        ping.clear()
        pong.set()


def _send(ping, pong, rounds):
    for _ in range(rounds):
        ping.set()
        if not pong.wait(60):
            raise RuntimeError("no pong within 60 s")
        pong.clear()


def _pingpong_workload():
    context = multiprocessing.get_context("fork")
    info = {"start_method": "fork", "processes": "2"}

    def sampler(settings):
        rounds = 5_000 if settings["sample_seconds"] < 0.2 else 20_000
        info["rounds_per_sample"] = str(rounds)
        samples = []
        for _ in range(settings["samples"]):
            ping, pong = context.Event(), context.Event()
            child = context.Process(target=_answer, args=(ping, pong, WARM_UP + rounds), daemon=True)
            child.start()
            _send(ping, pong, WARM_UP)
            start = time.perf_counter()
            _send(ping, pong, rounds)
            samples.append((time.perf_counter() - start) * 1e6 / rounds)
            child.join()
            if child.exitcode != 0:
                raise RuntimeError(f"the answering child exited with {child.exitcode}")
        return samples

    return Workload(lambda n: None, info=info, sampler=sampler)


@case("event_pingpong", "us",
      "one op = a round trip between this process and a forked child through two Events "
      "(set ping / wait pong / clear); per sample a new child, 200 warm-up rounds untimed")
def event_pingpong():
    return _pingpong_workload()
