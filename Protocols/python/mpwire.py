"""Frames and envelopes of swift-multiprocessing's wire protocol, version 1, for Python peers.

Everything here follows Protocols/PROTOCOL.md and needs only PyPI's ``msgpack`` (1.0 or later).
A worker written in Python reads frames from fd 3 and writes them to fd 4::

    import os, mpwire
    reader = mpwire.FrameReader()
    os.write(4, mpwire.frame(mpwire.pack_body(
        mpwire.Envelope(mpwire.Kind.HELLO, 0, 0, 0, 0),
        mpwire.hello(entry=os.environ.get("MP_ENTRY", "")))))
    while chunk := os.read(3, 65536):
        reader.feed(chunk)
        while (body := reader.next()) is not None:
            envelope, payload = mpwire.split_body(body)
            value = mpwire.unpack_payload(payload)
            ...
    reader.finish()   # raises ProtocolError("truncated") if the stream ended inside a frame
"""

from __future__ import annotations

import enum
import os
import struct
from typing import Any, NamedTuple

import msgpack

PROTOCOL_VERSION = 1
DEFAULT_MAX_FRAME_SIZE = 64 << 20
SUPERVISOR_ID = 0
ENVELOPE_FIELDS = 5
_UINT64_MAX = (1 << 64) - 1


class Kind(enum.IntEnum):
    """Envelope kinds (PROTOCOL.md, Kinds): version 1's, then flow control's (capability ``flow``)."""

    HELLO = 1
    WELCOME = 2
    MESSAGE = 3
    REQUEST = 4
    REPLY = 5
    ERROR = 6
    GOODBYE = 7
    MONITOR = 8
    DOWN = 9
    PAUSE = 10
    RESUME = 11


class QueueKind(enum.IntEnum):
    """The queue kinds (PROTOCOL.md, Queues): sent by workers to the supervisor (destination 0)
    with the queue id as a sixth envelope element, except ``CLOSED`` and ``THROTTLE`` (supervisor
    to worker)."""

    OPEN = 32
    PUT = 33
    PUT_WAIT = 34
    GET = 35
    REPORT = 36
    CLOSE = 37
    STATUS = 38
    JOIN = 39
    CANCEL = 40
    CLOSED = 41
    THROTTLE = 44


class QueueStatus(enum.IntEnum):
    """The first element of a get, putWait or join answer."""

    OK = 0
    TIMED_OUT = 1
    CLOSED = 2
    CANCELLED = 3


class ProtocolError(Exception):
    """A framing or envelope error; ``code`` is the name the test vectors use."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Envelope(NamedTuple):
    """The five fixed envelope fields; ``kind`` stays an int so unknown kinds survive."""

    kind: int
    flags: int
    source: int
    destination: int
    correlation: int

    def answer(self, kind: int) -> "Envelope":
        """The envelope of a reply or error to this frame: addresses swapped, correlation kept."""
        return Envelope(int(kind), 0, self.destination, self.source, self.correlation)


def frame(body: bytes) -> bytes:
    """One frame: the 4-byte big-endian length of ``body``, then ``body``."""
    return struct.pack(">I", len(body)) + body


def pack_body(envelope: Envelope, payload: Any, **packb_options: Any) -> bytes:
    """A frame body: the envelope array, then the payload, as two MessagePack values."""
    return msgpack.packb(list(envelope), use_bin_type=True) + msgpack.packb(payload, use_bin_type=True, **packb_options)


def split_body(body: bytes) -> tuple[Envelope, memoryview]:
    """Parses the envelope at the front of ``body`` and returns it with the payload's raw bytes.

    The payload is not decoded (a router forwards it as it is). Raises ``ProtocolError`` with
    code ``malformedEnvelope`` or ``missingPayload``.
    """
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=max(len(body), 1))
    unpacker.feed(body)
    try:
        fields = unpacker.unpack()
    except msgpack.OutOfData:
        raise ProtocolError("malformedEnvelope", f"the body ends inside the envelope ({len(body)} bytes)") from None
    except Exception as error:  # FormatError, StackError, ValueError, UnicodeDecodeError
        raise ProtocolError("malformedEnvelope", f"the envelope is not valid MessagePack: {error}") from None
    if not isinstance(fields, list):
        raise ProtocolError("malformedEnvelope", f"the envelope is a {type(fields).__name__}, not an array")
    if len(fields) < ENVELOPE_FIELDS:
        raise ProtocolError("malformedEnvelope", f"the envelope has {len(fields)} elements; it needs at least {ENVELOPE_FIELDS}")
    names = Envelope._fields
    for index in range(ENVELOPE_FIELDS):
        value = fields[index]
        if type(value) is not int or not 0 <= value <= _UINT64_MAX:
            raise ProtocolError("malformedEnvelope", f"envelope element {index} ({names[index]}) is {value!r}, not an unsigned integer")
    offset = unpacker.tell()
    if offset == len(body):
        raise ProtocolError("missingPayload", f"nothing follows the {offset}-byte envelope")
    # Elements after the fifth belong to later versions and are ignored.
    return Envelope(*fields[:ENVELOPE_FIELDS]), memoryview(body)[offset:]


def unpack_payload(payload: bytes | memoryview, *, timestamp: int = 3) -> Any:
    """Decodes a payload: exactly one value; non-string map keys allowed; timestamps as datetimes
    (``timestamp=0`` gives exact ``msgpack.Timestamp`` objects); negative extension types as
    ``(type, data)`` tuples, since ``msgpack.ExtType`` refuses them."""
    return msgpack.unpackb(payload, raw=False, strict_map_key=False, timestamp=timestamp, ext_hook=ext_hook)


def ext_hook(code: int, data: bytes) -> Any:
    """Extension values: ``msgpack.ExtType`` for application types 0...127, a tuple otherwise."""
    return msgpack.ExtType(code, data) if code >= 0 else (code, data)


class FrameReader:
    """Splits a byte stream into frame bodies; bytes may arrive in chunks of any size.

    A header above ``max_frame_size`` raises ``ProtocolError("frameTooLarge")`` as soon as it is
    read, and every later call raises it again (the stream's framing is lost: disconnect).
    ``finish()`` tells a clean end (at a frame boundary) from a truncated one.
    """

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE):
        self.max_frame_size = max_frame_size
        self._buffer = bytearray()
        self._consumed = 0
        self._error: ProtocolError | None = None

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next(self) -> bytes | None:
        """The next whole frame's body, or None until one is buffered."""
        if self._error:
            raise self._error
        if len(self._buffer) < 4:
            return None
        (length,) = struct.unpack_from(">I", self._buffer)
        if length > self.max_frame_size:
            self._error = ProtocolError(
                "frameTooLarge", f"frame at byte {self._consumed} declares {length} bytes, above the maximum of {self.max_frame_size}")
            raise self._error
        if len(self._buffer) < 4 + length:
            return None
        body = bytes(self._buffer[4:4 + length])
        del self._buffer[:4 + length]
        self._consumed += 4 + length
        return body

    def finish(self) -> None:
        """Raises ``ProtocolError("truncated")`` unless the stream ended at a frame boundary."""
        if self._error:
            raise self._error
        if not self._buffer:
            return
        if len(self._buffer) < 4:
            raise ProtocolError("truncated", f"stream ended inside a frame header ({len(self._buffer)} of 4 bytes)")
        (length,) = struct.unpack_from(">I", self._buffer)
        raise ProtocolError("truncated", f"stream ended inside a frame body ({len(self._buffer) - 4} of {length} bytes)")


# Handshake and error payloads (PROTOCOL.md, Handshake and Errors).

def hello(entry: str, capabilities: list[str] | None = None, pid: int | None = None) -> dict:
    """The payload of the child's first frame."""
    return {"version": PROTOCOL_VERSION, "pid": os.getpid() if pid is None else pid,
            "entry": entry, "capabilities": list(capabilities or [])}


def welcome(hello_payload: dict, worker_id: int, capabilities: list[str],
            max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> dict:
    """The supervisor's answer to ``hello_payload``: the agreed version and capabilities."""
    version = hello_payload.get("version")
    if type(version) is not int or version < 1:
        raise ProtocolError("unsupportedVersion", f"the child speaks protocol version {version!r}; 1 or later is needed")
    offered = set(capabilities)
    return {"version": min(version, PROTOCOL_VERSION), "id": worker_id,
            "capabilities": [c for c in hello_payload.get("capabilities", []) if c in offered],
            "maxFrameSize": max_frame_size}


class Channel:
    """A worker's end of its channel to the supervisor: blocking, unbuffered frames, read from
    the first descriptor of ``MP_CHANNEL_FDS`` (3) and written to the second (4)::

        channel = mpwire.Channel()
        channel.handshake("my-entry")            # hello, then the welcome: channel.id is ours
        while (body := channel.receive()) is not None:
            envelope, payload = mpwire.split_body(body)
            ...
    """

    def __init__(self, read_fd: int | None = None, write_fd: int | None = None):
        fds = [int(fd) for fd in os.environ.get("MP_CHANNEL_FDS", "3,4").split(",")]
        self.read_fd = fds[0] if read_fd is None else read_fd
        self.write_fd = fds[1] if write_fd is None else write_fd
        self.reader = FrameReader()
        self.id = 0                                    # ours once welcomed; 0 before
        self.max_frame_size = DEFAULT_MAX_FRAME_SIZE

    def receive(self) -> bytes | None:
        """The next frame's body, or None when the supervisor closed the channel."""
        while (body := self.reader.next()) is None:
            chunk = os.read(self.read_fd, 65536)
            if not chunk:
                self.reader.finish()                   # raises ProtocolError if inside a frame
                return None
            self.reader.feed(chunk)
        return body

    def send(self, envelope: Envelope, payload: Any) -> None:
        """One frame, written whole; an answer above the supervisor's limit becomes an error."""
        body = pack_body(envelope, payload)
        if len(body) > self.max_frame_size:
            envelope = envelope._replace(kind=Kind.ERROR)
            body = pack_body(envelope, remote_error(
                "ProtocolError.frameTooLarge",
                f"the answer is {len(body)} bytes, above the supervisor's maximum of {self.max_frame_size}"))
        data = memoryview(frame(body))
        while data:
            data = data[os.write(self.write_fd, data):]

    def handshake(self, entry: str, capabilities: list[str] | None = None) -> None:
        """Says hello (source and destination 0), waits for the welcome and keeps its id and the
        supervisor's frame limit; a refusal or a closed channel is a ``ProtocolError``."""
        self.send(Envelope(Kind.HELLO, 0, 0, 0, 0), hello(entry=entry, capabilities=capabilities))
        body = self.receive()
        if body is None:
            raise ProtocolError("closed", "the supervisor closed the channel before its welcome")
        envelope, payload = split_body(body)
        value = unpack_payload(payload)
        if envelope.kind == Kind.ERROR:
            raise ProtocolError("refused", f"refused by the supervisor: {value.get('type')}: {value.get('message')}")
        if envelope.kind != Kind.WELCOME:
            raise ProtocolError("unexpectedKind", f"expected a welcome, got kind {envelope.kind}")
        self.id = value["id"]
        self.max_frame_size = value.get("maxFrameSize", self.max_frame_size)


def remote_error(type_name: str, message: str) -> dict:
    """The payload of an error envelope."""
    return {"type": type_name, "message": message}


def error_from_exception(error: BaseException) -> dict:
    """An error payload naming a Python exception, e.g. ``{"type": "builtins.ValueError", ...}``."""
    kind = type(error)
    return remote_error(f"{kind.__module__}.{kind.__qualname__}", str(error))


# -- queues (PROTOCOL.md, Queues) ------------------------------------------------------------

def queue_body(kind: int, source: int, queue: int, payload: Any = None, *, correlation: int = 0,
               raw_payload: bytes | None = None, timeout_us: Any = ...) -> bytes:
    """A queue frame body from a worker: ``[kind, 0, source, 0, correlation, queue(, timeout)]``
    then the payload (``raw_payload``: an item already packed, as a producer sends it). Pass
    ``timeout_us`` (microseconds, or None for no limit) only for ``PUT_WAIT``."""
    fields = [int(kind), 0, source, SUPERVISOR_ID, correlation, queue]
    if timeout_us is not ...:
        fields.append(timeout_us)
    body = msgpack.packb(fields, use_bin_type=True)
    return body + (raw_payload if raw_payload is not None else msgpack.packb(payload, use_bin_type=True))


def split_queue_body(body: bytes) -> tuple[list, memoryview]:
    """The whole envelope (queue frames carry the queue id as a sixth element) and the payload."""
    envelope, payload = split_body(body)
    fields = msgpack.unpackb(bytes(body[:len(body) - len(payload)]), raw=False)
    if len(fields) < 6 or type(fields[5]) is not int:
        raise ProtocolError("malformedEnvelope", "a queue frame's envelope needs the queue id as its sixth element")
    return fields, payload


def queue_get_answer(payload: bytes | memoryview) -> tuple[int, list]:
    """A get answer ``[status, bin(item)...]``: the status and the items, each unpacked."""
    status, *items = msgpack.unpackb(bytes(payload), raw=False)
    return status, [unpack_payload(item) for item in items]


class PoolKind(enum.IntEnum):
    """The pool kinds (PROTOCOL.md, Pool; capability ``pool``): the correlation is the task id."""

    TASK = 48
    RESULTS = 49
    CANCEL = 50
    INITIALIZE = 51


class PoolState(enum.IntEnum):
    """The last element of a results payload."""

    PARTIAL = 0
    DONE = 1
    CANCELLED = 2


def pool_task_body(worker: int, task_id: int, function: str, items: list, *, initialize: bool = False) -> bytes:
    """A task (or, with ``initialize``, an initializer) for ``worker``: ``[function, items]``,
    each item in the function's argument form (None / the value / a list)."""
    kind = PoolKind.INITIALIZE if initialize else PoolKind.TASK
    return pack_body(Envelope(kind, 0, SUPERVISOR_ID, worker, task_id), [function, items])


def pool_cancel_body(worker: int, task_id: int) -> bytes:
    """Cancels the task ``task_id`` of ``worker`` (payload nil)."""
    return pack_body(Envelope(PoolKind.CANCEL, 0, SUPERVISOR_ID, worker, task_id), None)


def pool_results_body(worker: int, task_id: int, offset: int, outputs: list,
                      failures: list[tuple[int, dict]], state: int) -> bytes:
    """A worker's answer to items ``offset``, ``offset + 1``, ... of a task; ``failures`` are
    ``(offset, remote_error(...))`` pairs, their slots None in ``outputs``."""
    payload = [offset, outputs, [[at, error] for at, error in failures], state]
    return pack_body(Envelope(PoolKind.RESULTS, 0, worker, SUPERVISOR_ID, task_id), payload)


def pool_results(payload: bytes | memoryview) -> tuple[int, list, list, int]:
    """Splits a results payload into ``(offset, outputs, failures, state)``; raises
    ``ProtocolError("malformedPoolResults")`` for another shape."""
    value = unpack_payload(payload)
    if not (isinstance(value, list) and len(value) >= 4 and isinstance(value[0], int) and isinstance(value[1], list)
            and isinstance(value[2], list) and value[3] in (0, 1, 2)):
        raise ProtocolError("malformedPoolResults", f"a results payload must be [offset, outputs, failures, state], not {value!r}")
    offset, outputs, failures, state = value[:4]
    for failure in failures:
        if not (isinstance(failure, list) and len(failure) == 2 and offset <= failure[0] < offset + len(outputs)):
            raise ProtocolError("malformedPoolResults", f"a failure {failure!r} outside items {offset}..{offset + len(outputs) - 1}")
    return offset, outputs, [tuple(f) for f in failures], state


# -- managers (PROTOCOL.md, Manager) -------------------------------------------------------------

MANAGER_CAPABILITY = "manager"
MANAGER_ERROR_PREFIX = "ManagerError."


class ManagerKind(enum.IntEnum):
    """The manager kinds (PROTOCOL.md, Manager; capability ``manager``): a client's frames to the
    supervisor (destination 0). ``CREATE``, ``CALL`` and ``LOOKUP`` are answered by a ``Kind.REPLY``
    or ``Kind.ERROR`` with their correlation; the others are one-way."""

    CREATE = 64
    CALL = 65
    RETAIN = 66
    RELEASE = 67
    CANCEL = 68
    LOOKUP = 69
    TRANSIT = 70


class ManagerError(Exception):
    """An error answer of the manager: ``code`` is the part after ``ManagerError.`` in the error's
    type (``unknownKey``, ``protocolViolation``, ...), as Swift's ``ManagerError.Code``."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def manager_body(kind: int, source: int, payload: Any, *, correlation: int = 0) -> bytes:
    """A manager frame body from client ``source`` to the supervisor: ``[kind, 0, source, 0,
    correlation]`` then the payload."""
    return pack_body(Envelope(int(kind), 0, source, SUPERVISOR_ID, correlation), payload)


def manager_create_body(source: int, correlation: int, typeid: str, name: str | None = None,
                        arguments: list | tuple = ()) -> bytes:
    """``managerCreate [typeid, name, arguments]``: a new object, or the one named ``name``."""
    return manager_body(ManagerKind.CREATE, source, [typeid, name, list(arguments)], correlation=correlation)


def manager_call_body(source: int, correlation: int, obj: int, method: str, arguments: list | tuple = ()) -> bytes:
    """``managerCall [object, method, arguments]``."""
    return manager_body(ManagerKind.CALL, source, [obj, method, list(arguments)], correlation=correlation)


def manager_lookup_body(source: int, correlation: int, name: str) -> bytes:
    """``managerLookup [name]``."""
    return manager_body(ManagerKind.LOOKUP, source, [name], correlation=correlation)


def manager_retain_body(source: int, obj: int, from_client: int | None = None) -> bytes:
    """One-way ``managerRetain [object, from]``: ``source`` holds one more reference; ``from_client``
    (the client that encoded the proxy) gives up its in-transit one."""
    return manager_body(ManagerKind.RETAIN, source, [obj, from_client])


def manager_release_body(source: int, obj: int) -> bytes:
    """One-way ``managerRelease [object]``: one reference fewer."""
    return manager_body(ManagerKind.RELEASE, source, [obj])


def manager_transit_body(source: int, obj: int) -> bytes:
    """One-way ``managerTransit [object]``: ``source`` encoded a proxy of the object."""
    return manager_body(ManagerKind.TRANSIT, source, [obj])


def manager_cancel_body(source: int, correlation: int) -> bytes:
    """One-way ``managerCancel`` (payload nil): the call ``correlation`` is answered now, with
    ``ManagerError.cancelled``, if it still waits."""
    return manager_body(ManagerKind.CANCEL, source, None, correlation=correlation)


def manager_answer(envelope: Envelope, payload: bytes | memoryview) -> Any:
    """The result of a manager request from its answer: a reply's value, or ``ManagerError`` raised
    for an error (an error not named ``ManagerError.<code>``: ``protocolViolation`` when the
    supervisor refused the frame, ``functionFailed`` otherwise, as the Swift client maps it)."""
    value = unpack_payload(payload)
    if envelope.kind == Kind.REPLY:
        return value
    if envelope.kind != Kind.ERROR:
        raise ProtocolError("unexpectedKind", f"a manager request is answered by a reply or an error, not kind {envelope.kind}")
    if not (isinstance(value, dict) and isinstance(value.get("type"), str)):
        raise ManagerError("protocolViolation", f"an error answer without a RemoteError: {value!r}")
    type_name, message = value["type"], str(value.get("message", ""))
    if type_name.startswith(MANAGER_ERROR_PREFIX):
        raise ManagerError(type_name[len(MANAGER_ERROR_PREFIX):], message)
    if type_name.startswith("ProtocolError."):
        raise ManagerError("protocolViolation", f"the supervisor refused the request: {type_name}: {message}")
    raise ManagerError("functionFailed", f"{type_name}: {message}")


def manager_reference(value: Any) -> tuple[int, str]:
    """A create or lookup answer ``[object, typeid]``; ``ManagerError("protocolViolation")`` otherwise."""
    if not (isinstance(value, list) and len(value) == 2 and type(value[0]) is int and isinstance(value[1], str)):
        raise ManagerError("protocolViolation", f"a create or lookup answer is not [object, typeid]: {value!r}")
    return value[0], value[1]
