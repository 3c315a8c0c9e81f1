#!/usr/bin/env python3
"""A manager client in Python for swift-multiprocessing's supervisor (Protocols/PROTOCOL.md, Manager).

Started by a supervisor as a foreign executable, it speaks the manager protocol with raw frames
built by ``mpwire``: it makes (or finds) the dictionary named by its first argument, sets, gets and
increments values in it, sends malformed manager frames and a call of an unknown method, and
writes what it saw into the same dictionary, for the process that runs the manager to read:

- ``"python"``: ``"hello"``; ``"a"``: 42 (set to 1, then incremented by 41); ``"count"``: 100
  (100 increments of 1); ``"ratio"``: 1.0 (two increments of 0.5);
- ``"object"``: the dictionary's object id; ``"list"``: the id of a list it made and never
  released (its end releases it);
- ``"errors"``: ``[[case, code, message], ...]``, one per bad frame, in the order sent;
- ``"capabilities"``: the welcome's capabilities.

It checks every answer and exits 1 with a message on standard error at the first one that is not
what PROTOCOL.md says; otherwise it says goodbye and exits 0. Needs PyPI's ``msgpack`` and
``mpwire.py`` (beside this file). From Swift::

    let client = try await ChildProcess.start(executable: "/usr/bin/env",
                                              arguments: ["python3", "/path/to/manager_client.py", "hits"])
    try await client.join()
    let hits = try await Manager().dictionary(String.self, Int.self, name: "hits")
    let a = try await hits.get("a")   // 42
"""

import itertools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mpwire  # noqa: E402
from mpwire import Envelope, Kind  # noqa: E402

ENTRY = "python-manager-client"
READ_FD, WRITE_FD = (int(fd) for fd in os.environ.get("MP_CHANNEL_FDS", "3,4").split(","))


class Client:
    """A blocking manager client over the channel: one request in flight at a time."""

    def __init__(self):
        self.reader = mpwire.FrameReader()
        self.id = 0
        self.capabilities = []
        self.correlations = itertools.count(1)

    def receive(self):
        """The next frame's envelope and payload; exits 0 when the supervisor closed the channel
        or said goodbye (it asks this client to finish)."""
        while (body := self.reader.next()) is None:
            chunk = os.read(READ_FD, 65536)
            if not chunk:
                self.reader.finish()
                sys.exit(0)
            self.reader.feed(chunk)
        envelope, payload = mpwire.split_body(body)
        if envelope.kind == Kind.GOODBYE:
            sys.exit(0)
        return envelope, payload

    def send(self, body):
        data = memoryview(mpwire.frame(body))
        while data:
            data = data[os.write(WRITE_FD, data):]

    def handshake(self):
        self.send(mpwire.pack_body(Envelope(Kind.HELLO, 0, 0, 0, 0),
                                   mpwire.hello(entry=ENTRY, capabilities=[mpwire.MANAGER_CAPABILITY])))
        envelope, payload = self.receive()
        welcome = mpwire.unpack_payload(payload)
        if envelope.kind != Kind.WELCOME:
            fail(f"refused by the supervisor: {welcome}")
        self.id = welcome["id"]
        self.capabilities = welcome["capabilities"]

    def answer(self, correlation):
        """The answer to request ``correlation``: its value, or ``mpwire.ManagerError`` raised."""
        while True:
            envelope, payload = self.receive()
            if envelope.kind in (Kind.REPLY, Kind.ERROR) and envelope.correlation == correlation:
                return mpwire.manager_answer(envelope, payload)

    def request(self, build, *arguments):
        """Sends the body ``build(self.id, correlation, *arguments)`` and waits for its answer."""
        correlation = next(self.correlations)
        self.send(build(self.id, correlation, *arguments))
        return self.answer(correlation)

    def create(self, typeid, name=None, arguments=()):
        return mpwire.manager_reference(self.request(mpwire.manager_create_body, typeid, name, arguments))

    def lookup(self, name):
        return mpwire.manager_reference(self.request(mpwire.manager_lookup_body, name))

    def call(self, obj, method, *arguments):
        return self.request(mpwire.manager_call_body, obj, method, arguments)

    def refused(self, body_for):
        """Sends the bad frame ``body_for(correlation)`` and returns the error it is answered with."""
        correlation = next(self.correlations)
        self.send(body_for(correlation))
        try:
            value = self.answer(correlation)
        except mpwire.ManagerError as error:
            return error
        fail(f"a bad frame was answered with {value!r}")


def fail(message):
    sys.exit(f"manager_client: {message}")


def expect(actual, wanted, what):
    if actual != wanted or type(actual) is not type(wanted):
        fail(f"{what}: {actual!r}, expected {wanted!r}")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: manager_client.py DICTIONARY-NAME")
    name = sys.argv[1]
    client = Client()
    client.handshake()
    me = client.id

    obj, typeid = client.create("dict", name)
    expect(typeid, "dict", "the typeid of the created object")
    expect(client.call(obj, "set", "python", "hello"), None, "set's answer")
    client.call(obj, "set", "a", 1)
    expect(client.call(obj, "get", "a"), [1], "get of a key that is there")
    expect(client.call(obj, "get", "absent"), [], "get of a key that is not there")
    expect(client.call(obj, "increment", "a", 41), 42, "increment's new value")
    for _ in range(100):
        client.call(obj, "increment", "count", 1)
    client.call(obj, "increment", "ratio", 0.5)
    expect(client.call(obj, "increment", "ratio", 0.5), 1.0, "a float increment")
    expect(client.lookup(name), (obj, "dict"), "a lookup of the name")

    bad = [
        ("wrong-count", lambda c: mpwire.manager_body(mpwire.ManagerKind.CALL, me, [obj, "get"], correlation=c)),
        ("wrong-type", lambda c: mpwire.manager_body(mpwire.ManagerKind.CALL, me, ["one", "get", []], correlation=c)),
        ("trailing-bytes", lambda c: mpwire.manager_call_body(me, c, obj, "get", ["a"]) + b"\xc0"),
        ("not-an-array", lambda c: mpwire.manager_body(mpwire.ManagerKind.CREATE, me, "garbage", correlation=c)),
        ("unknown-kind", lambda c: mpwire.manager_body(71, me, [obj], correlation=c)),
        ("unknown-method", lambda c: mpwire.manager_call_body(me, c, obj, "frobnicate", [])),
    ]
    errors = []
    for case, body_for in bad:
        error = client.refused(body_for)
        errors.append([case, error.code, error.message])

    # One-way frames: a bad one is dropped (nothing answers it), then the manager serves on.
    client.send(mpwire.manager_body(mpwire.ManagerKind.RELEASE, me, ["not an id"]))
    client.send(mpwire.manager_transit_body(me, obj))
    client.send(mpwire.manager_retain_body(me, obj, me))
    client.send(mpwire.manager_release_body(me, obj))
    expect(client.call(obj, "get", "a"), [42], "a get after the bad frames")

    listed, typeid = client.create("list", None, [[1, 2, 3]])
    expect((typeid, client.call(listed, "count")), ("list", 3), "a list made with its elements")
    client.call(obj, "set", "object", obj)
    client.call(obj, "set", "list", listed)
    client.call(obj, "set", "errors", errors)
    client.call(obj, "set", "capabilities", client.capabilities)
    client.send(mpwire.pack_body(Envelope(Kind.GOODBYE, 0, me, 0, 0), {"status": 0}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
