#!/usr/bin/env python3
"""A minimal worker in Python for swift-multiprocessing's supervisor (Protocols/PROTOCOL.md, v1).

It echoes every request back as its reply, with two exceptions that let a supervisor's tests
reach every path:

- ``{"raise": "module.TypeName", "message": "..."}`` is answered with an error envelope of that
  type (``"ValueError"`` when ``raise`` is not a string) and message;
- ``{"exit": N}`` makes it exit with status N at once, without answering.

It ends with status 0 when the supervisor closes the channel at a frame boundary, or says
goodbye.

It does not announce the ``flow`` capability and relies on version-1 behaviour (PROTOCOL.md,
Flow control, "Without the capability"): it reads one frame and answers it before it reads
the next, so its mailbox is the pipe itself and a full pipe is its backpressure; it sends no
requests or messages of its own, so it has nothing to hold. The supervisor never sends it
``pause`` or ``resume``; were one to arrive, it is answered as an unknown kind. Needs PyPI's ``msgpack`` and ``mpwire.py`` (beside this file). From Swift::

    let worker = try await ChildProcess.start(executable: "/path/to/Protocols/python/worker.py")
    let echoed = try await worker.request(["a": 1], as: [String: Int].self)
    worker.close()                    // EOF on its fd 3: it exits 0
    try await worker.join()
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mpwire  # noqa: E402
from mpwire import Envelope, Kind  # noqa: E402

ENTRY = "python-echo"
# Version 1's kinds: without the flow capability, pause and resume are not this peer's.
KNOWN_KINDS = set(Kind) - {Kind.PAUSE, Kind.RESUME}
def answer_request(channel, envelope, payload):
    """Echo, raise or exit; every request gets exactly one reply or error (or none: exit)."""
    try:
        # timestamp=0: exact msgpack.Timestamp objects, which pack back to the same bytes.
        value = mpwire.unpack_payload(payload, timestamp=0)
    except Exception as error:                         # not exactly one valid value
        channel.send(envelope.answer(Kind.ERROR), mpwire.error_from_exception(error))
        return
    if isinstance(value, dict) and set(value) == {"exit"} and type(value["exit"]) is int:
        os._exit(value["exit"])                        # no answer: the supervisor sees the status
    if isinstance(value, dict) and "raise" in value:
        type_name = value["raise"] if isinstance(value["raise"], str) and value["raise"] else "ValueError"
        message = str(value.get("message", "raised on request"))
        channel.send(envelope.answer(Kind.ERROR), mpwire.remote_error(type_name, message))
        return
    channel.send(envelope.answer(Kind.REPLY), value)


def main():
    channel = mpwire.Channel()
    channel.handshake(ENTRY)
    while (body := channel.receive()) is not None:
        try:
            envelope, payload = mpwire.split_body(body)
        except mpwire.ProtocolError as error:          # framing is intact: drop it, carry on
            channel.send(Envelope(Kind.ERROR, 0, channel.id, mpwire.SUPERVISOR_ID, 0),
                         mpwire.remote_error("ProtocolError.malformedBody", error.message))
            continue
        if envelope.kind == Kind.REQUEST:
            answer_request(channel, envelope, payload)
        elif envelope.kind == Kind.GOODBYE:            # asked to finish: say goodbye, exit 0
            try:
                channel.send(Envelope(Kind.GOODBYE, 0, channel.id, mpwire.SUPERVISOR_ID, 0), {"status": 0})
            except BrokenPipeError:                    # the supervisor closed already: nothing to tell
                pass
            return
        elif envelope.kind not in KNOWN_KINDS:         # a kind from a later version
            channel.send(envelope.answer(Kind.ERROR), mpwire.remote_error(
                "ProtocolError.unknownKind",
                f"kind {envelope.kind} is not known to this peer (protocol version {mpwire.PROTOCOL_VERSION})"))
        # message: nothing to do; reply, error: never answered; hello, welcome: not expected now.
    # End of input at a frame boundary: the supervisor closed the channel. Exit 0, say nothing.


if __name__ == "__main__":
    try:
        main()
    except mpwire.ProtocolError as error:              # a truncated or oversized frame
        sys.exit(f"worker: {error}")
