#!/usr/bin/env python3
"""A worker that breaks Protocols/PROTOCOL.md on request, so the supervisor's refusals can be
tested against a foreign peer (Tests/MultiprocessingTests/PythonWorkerTests.swift).

It is worker.py, except that a request ``{"misbehave": what}`` first sends something wrong,
then answers ``"real"`` as it should:

- ``"wrong-source"``: a reply with that request's correlation but another source (``"forged"``);
- ``"malformed"``: a frame whose body is not an envelope and a payload;
- ``"stray"``: a reply to a correlation nobody awaits;
- ``"unknown-destination"``: a message to a worker id that does not exist;
- ``"unknown-kind"``: a frame of kind 99 (defined by no version) to the supervisor (correlation 77); the answer is
  then ``[kind, correlation, type]`` of the frame the supervisor sent back;
- ``"service-kind"``: a frame of kind 64 (the managers' range, PROTOCOL.md "Kind ranges") with payload
  ``"ping"`` to the supervisor (correlation 78); the answer is then ``[kind, correlation, payload]`` of the
  frame that came back.

Misbehaviours that end the conversation (the supervisor disconnects the peer; no answer comes):

- ``"garbage"``: an HTTP request line instead of a frame (its first four bytes read as a length
  far above the maximum);
- ``"oversize"``: a frame header declaring 2**31 - 1 bytes;
- ``"truncated"``: a frame header declaring 100 bytes, 10 of them, then the end of the channel.

And ones a peer that lies or floods does (each answered ``"real"`` afterwards):

- ``"wrong-envelope"``: a frame whose envelope has the right length but wrong types;
- ``"flood"``: ``count`` messages of 1 KiB to the worker ``target``, written without reading
  anything meanwhile;
- ``"foreign-results"``: pool results for task 1, a task never given to it;
- ``"report-unheld"``: a ``queueReport`` on the queue ``queue`` claiming 100 items got and done,
  none of which it holds.

With the argument ``version0`` it says hello with version 0 instead, waits 0.3 s, reads, and
exits 7 when the supervisor answered with an error frame before closing (8: another frame, 9:
none); killed before it read, it ends by SIGKILL.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import msgpack  # noqa: E402
import mpwire  # noqa: E402
import worker  # noqa: E402
from mpwire import Envelope, Kind  # noqa: E402

UNKNOWN_KIND = 99
SERVICE_KIND = 64
REFUSED_READ_DELAY = 0.3  # seconds


def refused_at_hello(channel):
    hello = mpwire.hello(entry=worker.ENTRY)
    hello["version"] = 0
    channel.send(Envelope(Kind.HELLO, 0, 0, 0, 0), hello)
    # Reads only after a while (well inside the supervisor's grace of a second), so a supervisor
    # that killed a refused peer at once would kill it before it read the error frame.
    time.sleep(REFUSED_READ_DELAY)
    body = channel.receive()
    if body is None:
        os._exit(9)
    envelope, _ = mpwire.split_body(body)
    os._exit(7 if envelope.kind == Kind.ERROR else 8)


def write_all(channel, data):
    data = memoryview(data)
    while data:
        data = data[os.write(channel.write_fd, data):]


def misbehave(channel, envelope, request):
    what = request["misbehave"]
    me = channel.id
    if what == "wrong-source":
        channel.send(Envelope(Kind.REPLY, 0, me + 1000, envelope.source, envelope.correlation), "forged")
    elif what == "malformed":
        data = memoryview(mpwire.frame(b"\xc1"))       # 0xc1 is never a MessagePack value
        while data:
            data = data[os.write(channel.write_fd, data):]
    elif what in ("garbage", "oversize", "truncated"):
        if what == "garbage":
            data = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
        elif what == "oversize":
            data = (2**31 - 1).to_bytes(4, "big") + b"\x00" * 16
        else:
            data = (100).to_bytes(4, "big") + b"\x94" + b"\x00" * 9
        write_all(channel, data)
        if what == "truncated":
            os._exit(0)
        # Disconnected: wait for the end of input rather than answer.
        while channel.receive() is not None:
            pass
        os._exit(0)
    elif what == "wrong-envelope":
        write_all(channel, mpwire.frame(msgpack.packb([4, "x", -1, "supervisor", 3.5], use_bin_type=True) + msgpack.packb("?")))
    elif what == "flood":
        target, count = request["target"], request.get("count", 20_000)
        blob = b"x" * 1024
        for _ in range(count):
            channel.send(Envelope(Kind.MESSAGE, 0, me, target, 0), blob)
    elif what == "foreign-results":
        write_all(channel, mpwire.frame(mpwire.pool_results_body(me, 1, 0, [42], [], mpwire.PoolState.DONE)))
    elif what == "report-unheld":
        write_all(channel, mpwire.frame(mpwire.queue_body(mpwire.QueueKind.REPORT, me, request["queue"], [100, 100])))
    elif what == "stray":
        channel.send(Envelope(Kind.REPLY, 0, me, mpwire.SUPERVISOR_ID, 0xFFFF_FFFF), "stray")
    elif what == "unknown-destination":
        channel.send(Envelope(Kind.MESSAGE, 0, me, 999_999_999, 0), "lost")
    elif what == "unknown-kind":
        channel.send(Envelope(UNKNOWN_KIND, 0, me, mpwire.SUPERVISOR_ID, 77), "?")
        answer, payload = mpwire.split_body(channel.receive())
        value = mpwire.unpack_payload(payload)
        kind_type = value.get("type") if isinstance(value, dict) else None
        channel.send(envelope.answer(Kind.REPLY), [int(answer.kind), answer.correlation, kind_type])
        return
    elif what == "service-kind":
        channel.send(Envelope(SERVICE_KIND, 0, me, mpwire.SUPERVISOR_ID, 78), "ping")
        answer, payload = mpwire.split_body(channel.receive())
        channel.send(envelope.answer(Kind.REPLY), [int(answer.kind), answer.correlation, mpwire.unpack_payload(payload)])
        return
    channel.send(envelope.answer(Kind.REPLY), "real")


def main():
    channel = mpwire.Channel()
    if sys.argv[1:] == ["version0"]:
        refused_at_hello(channel)
    channel.handshake(worker.ENTRY)
    while (body := channel.receive()) is not None:
        envelope, payload = mpwire.split_body(body)
        if envelope.kind != Kind.REQUEST:
            continue
        value = mpwire.unpack_payload(payload)
        if isinstance(value, dict) and "misbehave" in value:
            misbehave(channel, envelope, value)
        else:
            worker.answer_request(channel, envelope, payload)


if __name__ == "__main__":
    main()
