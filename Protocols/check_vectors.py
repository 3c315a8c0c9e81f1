#!/usr/bin/env python3
"""Checks every vector in Protocols/vectors/ against PyPI's msgpack, an implementation nobody here wrote.

    python3 Protocols/check_vectors.py [-v]

- values.json, codable.json: the hex decodes (``unpackb`` with ``strict_map_key=False``,
  ``timestamp=0``, so timestamps come back as exact ``msgpack.Timestamp`` objects) to exactly the
  described value: types (int, float, str, bytes, list, dict, ExtType, Timestamp, None, bool),
  float bit patterns, map entry order. Values holding timestamps are decoded a second time with
  ``timestamp=3`` and must equal the described instants as UTC datetimes (microseconds, floored,
  as msgpack converts them). Vectors marked ``canonical`` must be reproduced byte for byte by
  ``packb`` (``use_bin_type=True``, the default).
- invalid.json: vectors marked ``pythonRejects`` must be rejected with the named exception;
  the others must be accepted (the flag documents a real difference, so it is checked both ways).
- frames.json, envelopes.json, invalid-bodies.json: through ``python/mpwire.py``. Envelope kind
  names and codes must match the Kinds table in PROTOCOL.md (and ``mpwire.Kind`` wherever it
  names the kind; a documented kind mpwire lacks is noted on standard error).
- pool.json: envelope, payload and frame against the Pool kinds table and ``mpwire.PoolKind``;
  every frame rebuilt byte for byte with mpwire's pool helpers; every documented pool kind
  needs a vector.
- manager.json: envelope, payload and frame against the Manager kinds table and
  ``mpwire.ManagerKind``; requests and one-way frames rebuilt byte for byte with mpwire's manager
  helpers, answers (``reply``/``error``) with ``mpwire.pack_body``, each answer naming its request
  (same correlation, back to its source), errors named ``ManagerError.<code>`` with a code of the
  Manager errors table; every documented manager kind needs a vector.
- queues.json: the whole envelope (queue id sixth), the payload (and a get answer's bin-wrapped
  items), against the Queue kinds table and ``mpwire.QueueKind``; request frames are rebuilt
  byte for byte with ``mpwire.queue_body``; every documented queue kind needs a vector.

Prints one line per failure and ends with ``vectors: N passed, M failed``; exits 1 on any failure.
"""

from __future__ import annotations

import datetime
import json
import pathlib
import re
import struct
import sys

import msgpack

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "python"))
import mpwire  # noqa: E402

VECTORS = HERE / "vectors"
PYTHON_ERRORS = {
    "ValueError": ValueError,
    "FormatError": msgpack.FormatError,
    "ExtraData": msgpack.ExtraData,
    "UnicodeDecodeError": UnicodeDecodeError,
}
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def documented_kinds() -> dict[str, int]:
    """The kinds PROTOCOL.md's Kinds table defines, name to code (rows like ``| 8 | `monitor` |``)."""
    text = (HERE / "PROTOCOL.md").read_text(encoding="utf-8")
    section = text.split("### Kinds", 1)[1].split("\n#", 1)[0]
    return {name: int(code) for code, name in re.findall(r"^\|\s*(\d+)\s*\|\s*`(\w+)`", section, re.MULTILINE)}


KINDS = documented_kinds()


def documented_service_kinds(heading: str) -> dict[str, int]:
    """The kinds PROTOCOL.md's table under `### {heading}` defines, name to code (none if the
    section is missing)."""
    text = (HERE / "PROTOCOL.md").read_text(encoding="utf-8")
    if f"### {heading}" not in text:
        return {}
    section = text.split(f"### {heading}", 1)[1].split("\n#", 1)[0]
    return {name: int(code) for code, name in re.findall(r"^\|\s*(\d+)\s*\|\s*`(\w+)`", section, re.MULTILINE)}


QUEUE_KINDS = documented_service_kinds("Queue kinds")
POOL_KINDS = documented_service_kinds("Pool kinds")
MANAGER_KINDS = documented_service_kinds("Manager kinds")


def documented_manager_codes() -> set[str]:
    """The codes PROTOCOL.md's Manager errors table lists (rows like ``| `unknownKey` |``)."""
    text = (HERE / "PROTOCOL.md").read_text(encoding="utf-8")
    if "### Manager errors" not in text:
        return set()
    section = text.split("### Manager errors", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^\|\s*`(\w+)`\s*\|", section, re.MULTILINE))


MANAGER_CODES = documented_manager_codes()


class Mismatch(Exception):
    pass


def tag_of(described: dict) -> tuple[str, object]:
    """The one tag of a described value (``repr`` beside a float tag is informative)."""
    tags = [key for key in described if key != "repr"]
    if len(tags) != 1:
        raise Mismatch(f"a described value needs exactly one tag: {described}")
    return tags[0], described[tags[0]]


def to_python(described: dict, timestamps: str = "exact") -> object:
    """The Python value ``packb`` turns into the described bytes (when canonical)."""
    tag, x = tag_of(described)
    if tag == "nil":
        return None
    if tag in ("bool", "int", "uint", "str"):
        return x
    if tag == "float32":
        return struct.unpack(">f", bytes.fromhex(x))[0]
    if tag == "float64":
        return struct.unpack(">d", bytes.fromhex(x))[0]
    if tag == "bin":
        return bytes.fromhex(x)
    if tag == "array":
        return [to_python(e, timestamps) for e in x]
    if tag == "map":
        return {to_python(k, timestamps): to_python(v, timestamps) for k, v in x}
    if tag == "ext":
        return mpwire.ext_hook(x["type"], bytes.fromhex(x["data"]))
    if tag == "timestamp":
        if timestamps == "exact":
            return msgpack.Timestamp(x["seconds"], x["nanoseconds"])
        return EPOCH + datetime.timedelta(seconds=x["seconds"], microseconds=x["nanoseconds"] // 1000)
    raise Mismatch(f"unknown tag {tag!r}")


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise Mismatch(what)


def match(described: dict, actual: object, path: str = "$") -> None:
    """Raises Mismatch unless ``actual`` (from unpackb) is exactly the described value."""
    tag, x = tag_of(described)
    here = f"at {path}: expected {tag} {x!r}, got {type(actual).__name__} {actual!r}"
    if tag == "nil":
        expect(actual is None, here)
    elif tag == "bool":
        expect(type(actual) is bool and actual == x, here)
    elif tag == "int":
        expect(type(actual) is int and actual == x and -2**63 <= x < 2**63, here)
    elif tag == "uint":
        expect(type(actual) is int and actual == x and 0 <= x < 2**64, here)
    elif tag in ("float32", "float64"):
        fmt = ">f" if tag == "float32" else ">d"
        expect(type(actual) is float, here)
        expect(struct.pack(fmt, actual).hex() == x, here + f" (bits {struct.pack(fmt, actual).hex()})")
        rendered = repr(struct.unpack(fmt, bytes.fromhex(x))[0])
        expect(described.get("repr", rendered) == rendered, f"at {path}: repr {described.get('repr')!r} does not describe bits {x} ({rendered})")
    elif tag == "str":
        expect(type(actual) is str and actual == x, here)
    elif tag == "bin":
        expect(type(actual) is bytes and actual.hex() == x, here)
    elif tag == "array":
        expect(type(actual) is list and len(actual) == len(x), here)
        for i, (e, a) in enumerate(zip(x, actual)):
            match(e, a, f"{path}[{i}]")
    elif tag == "map":
        expect(type(actual) is dict and len(actual) == len(x), here + " (a repeated key would collapse in a dict)")
        for i, ((k, v), (ak, av)) in enumerate(zip(x, actual.items())):
            match(k, ak, f"{path}.key{i}")
            match(v, av, f"{path}[{ak!r}]")
    elif tag == "ext":
        if x["type"] >= 0:
            expect(isinstance(actual, msgpack.ExtType) and actual.code == x["type"] and actual.data.hex() == x["data"], here)
        else:
            expect(actual == (x["type"], bytes.fromhex(x["data"])), here)
    elif tag == "timestamp":
        expect(isinstance(actual, msgpack.Timestamp)
               and (actual.seconds, actual.nanoseconds) == (x["seconds"], x["nanoseconds"]), here)
    else:
        raise Mismatch(f"unknown tag {tag!r} at {path}")


def has_timestamp(described: dict) -> bool:
    tag, x = tag_of(described)
    if tag == "timestamp":
        return True
    if tag == "array":
        return any(has_timestamp(e) for e in x)
    if tag == "map":
        return any(has_timestamp(k) or has_timestamp(v) for k, v in x)
    return False


def unpack(data: bytes, timestamp: int = 0) -> object:
    return msgpack.unpackb(data, raw=False, strict_map_key=False, timestamp=timestamp, ext_hook=mpwire.ext_hook)


def check_value(vector: dict, value_key: str = "value", hex_key: str = "hex") -> None:
    data = bytes.fromhex(vector[hex_key])
    described = vector[value_key]
    match(described, unpack(data))
    if has_timestamp(described):
        try:
            as_datetime = to_python(described, timestamps="datetime")
        except OverflowError:
            as_datetime = None   # beyond datetime's years 1...9999: only the exact form is checked
        if as_datetime is not None:
            expect(unpack(data, timestamp=3) == as_datetime, "timestamp=3 does not give the described UTC datetime")
    if vector["canonical"]:
        packed = msgpack.packb(to_python(described), use_bin_type=True)
        expect(packed == data, f"packb gives {packed.hex()}, the vector has {data.hex()}")
    else:
        # A non-canonical vector documents bytes packb does not write: the flag must be accurate.
        try:
            packed = msgpack.packb(to_python(described), use_bin_type=True)
        except (TypeError, ValueError):
            return   # not writable by packb at all (a negative extension type)
        expect(packed != data, "packb reproduces the bytes: mark the vector canonical")


def check_invalid(vector: dict) -> None:
    data = bytes.fromhex(vector["hex"])
    try:
        value = unpack(data)
    except Exception as error:  # noqa: BLE001 - any rejection counts; its class is checked below
        expect(vector["pythonRejects"], f"Python rejects it ({type(error).__name__}: {error}) but pythonRejects is false")
        wanted = PYTHON_ERRORS[vector["pythonError"]]
        expect(isinstance(error, wanted), f"Python raises {type(error).__name__}, the vector says {vector['pythonError']}")
        return
    expect(not vector["pythonRejects"], f"Python accepts it as {value!r:.60} but pythonRejects is true")


def check_frames(vector: dict) -> None:
    stream = bytes.fromhex(vector["stream"])
    size = vector["maxFrameSize"]
    reader = mpwire.FrameReader() if size is None else mpwire.FrameReader(max_frame_size=size)
    bodies: list[str] = []
    error, error_at = None, None
    try:
        error_at = "next"
        for i in range(len(stream)):          # one byte at a time, as the Swift test does
            reader.feed(stream[i:i + 1])
            while (body := reader.next()) is not None:
                bodies.append(body.hex())
        error_at = "finish"
        reader.finish()
    except mpwire.ProtocolError as e:
        error = e
    expect(bodies == vector["frames"], f"frames {bodies}, expected {vector['frames']}")
    if vector["error"] is None:
        expect(error is None, f"unexpected {error}")
    else:
        expect(error is not None and error.code == vector["error"] and error_at == vector["errorAt"],
               f"expected {vector['error']} at {vector['errorAt']}, got {error} at {error_at}")


def check_envelope(vector: dict) -> None:
    body = bytes.fromhex(vector["body"])
    expect(bytes.fromhex(vector["frame"]) == mpwire.frame(body), "frame is not the 4-byte length + body")
    envelope, payload = mpwire.split_body(body)
    e = vector["envelope"]
    expected = mpwire.Envelope(e["kindCode"], e["flags"], e["source"], e["destination"], e["correlation"])
    expect(envelope == expected, f"envelope {envelope}, expected {expected}")
    if e["kind"] is not None:
        expect(KINDS.get(e["kind"]) == e["kindCode"], f"PROTOCOL.md's Kinds table does not give {e['kind']} code {e['kindCode']}")
        if e["kind"].upper() in mpwire.Kind.__members__:
            expect(mpwire.Kind[e["kind"].upper()] == e["kindCode"], f"mpwire.Kind.{e['kind'].upper()} is not code {e['kindCode']}")
    else:
        expect(e["kindCode"] not in set(KINDS.values()) | set(mpwire.Kind), "a known kind must be named")
    # Well-formed per the Kinds table: a request or monitor carries a correlation, the kinds
    # that answer nothing and expect nothing carry 0.
    if e["kind"] in ("hello", "welcome", "message", "goodbye", "down"):
        expect(e["correlation"] == 0, f"a {e['kind']} carries correlation 0, not {e['correlation']}")
    if e["kind"] in ("request", "monitor"):
        expect(e["correlation"] != 0, f"a {e['kind']} carries a non-zero correlation")
    match(vector["payload"], unpack(bytes(payload)))
    # One streaming unpacker reads both values, as PROTOCOL.md tells Python peers to.
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, timestamp=0, ext_hook=mpwire.ext_hook)
    unpacker.feed(body)
    values = list(unpacker)
    expect(len(values) == 2, f"the body holds {len(values)} values, not 2")
    if vector["canonical"]:
        rebuilt = mpwire.pack_body(expected, to_python(vector["payload"]))
        expect(rebuilt == body, f"pack_body gives {rebuilt.hex()}")


def check_queue(vector: dict) -> None:
    """A queue frame: the whole envelope (the queue id sixth), the payload, the frame, and for a
    get answer its bin-wrapped items; rebuilt byte for byte with mpwire."""
    body = bytes.fromhex(vector["body"])
    expect(bytes.fromhex(vector["frame"]) == mpwire.frame(body), "frame is not the 4-byte length + body")
    envelope, payload = mpwire.split_body(body)   # a version-1 reader sees the first five
    expect(list(envelope) == vector["envelope"][:5], f"envelope {envelope}, expected {vector['envelope'][:5]}")
    kind, code = vector["kind"], vector["kindCode"]
    expect(vector["envelope"][0] == code, "kindCode is not the envelope's kind")
    if kind in QUEUE_KINDS:
        expect(QUEUE_KINDS[kind] == code, f"PROTOCOL.md's Queue kinds table does not give {kind} code {code}")
        # queueClosed and queueThrottle come from the supervisor: a five-element envelope.
        fields = list(envelope) if kind in ("queueClosed", "queueThrottle") else mpwire.split_queue_body(body)[0]
        expect(fields == vector["envelope"], f"queue envelope {fields}, expected {vector['envelope']}")
        member = "".join("_" + c if c.isupper() else c.upper() for c in kind[len("queue"):]).lstrip("_")
        expect(mpwire.QueueKind[member] == code, f"mpwire.QueueKind.{member} is not code {code}")
    else:
        expect(KINDS.get(kind) == code, f"{kind} is not a version-1 kind with code {code}")
    match(vector["payload"], unpack(bytes(payload)))
    if "items" in vector:
        status, items = mpwire.queue_get_answer(payload)
        expect(status == mpwire.QueueStatus.OK, f"status {status}")
        for index, (described, item) in enumerate(zip(vector["items"], items, strict=True)):
            match(described, item, f"$.items[{index}]")
        rebuilt = msgpack.packb([status] + [msgpack.packb(to_python(d)) for d in vector["items"]], use_bin_type=True)
    else:
        rebuilt = msgpack.packb(to_python(vector["payload"]), use_bin_type=True)
    expect(rebuilt == bytes(payload), f"packb gives {rebuilt.hex()}, not the payload")
    if kind in QUEUE_KINDS and kind not in ("queueClosed", "queueThrottle"):
        e = vector["envelope"]
        timeout = {"timeout_us": e[6]} if len(e) > 6 else {}
        again = mpwire.queue_body(e[0], e[2], e[5], correlation=e[4], raw_payload=bytes(payload), **timeout)
        expect(again == body, f"mpwire.queue_body gives {again.hex()}")


def check_pool(vector: dict) -> None:
    """A pool frame: envelope, payload and frame, against the Pool kinds table and
    ``mpwire.PoolKind``; rebuilt byte for byte with mpwire's pool helpers."""
    body = bytes.fromhex(vector["body"])
    expect(bytes.fromhex(vector["frame"]) == mpwire.frame(body), "frame is not the 4-byte length + body")
    envelope, payload = mpwire.split_body(body)
    expect(list(envelope) == vector["envelope"], f"envelope {envelope}, expected {vector['envelope']}")
    kind, code = vector["kind"], vector["kindCode"]
    expect(envelope.kind == code, "kindCode is not the envelope's kind")
    expect(POOL_KINDS.get(kind) == code, f"PROTOCOL.md's Pool kinds table does not give {kind} code {code}")
    member = "".join("_" + c if c.isupper() else c.upper() for c in kind[len("pool"):]).lstrip("_")
    expect(mpwire.PoolKind[member] == code, f"mpwire.PoolKind.{member} is not code {code}")
    expect(envelope.correlation != 0, "a pool frame's correlation (the task id) is non-zero")
    value = unpack(bytes(payload))
    match(vector["payload"], value)
    expect(msgpack.packb(to_python(vector["payload"]), use_bin_type=True) == bytes(payload), "packb does not give the payload")
    worker = envelope.destination if kind != "poolResults" else envelope.source
    if kind in ("poolTask", "poolInitialize"):
        again = mpwire.pool_task_body(worker, envelope.correlation, value[0], value[1], initialize=kind == "poolInitialize")
        if kind == "poolInitialize":
            expect(len(value[1]) == 1, "an initializer carries exactly one item")
    elif kind == "poolCancel":
        again = mpwire.pool_cancel_body(worker, envelope.correlation)
    else:
        offset, outputs, failures, state = mpwire.pool_results(payload)
        for at, _ in failures:
            expect(outputs[at - offset] is None, f"the slot of failed item {at} is not nil")
        again = mpwire.pool_results_body(worker, envelope.correlation, offset, outputs, failures, state)
    expect(again == body, f"mpwire gives {again.hex()}")


_MANAGER_VECTORS: dict[str, dict] = {}


def manager_vector(name: str) -> dict | None:
    """A vector of manager.json by name (the file read once)."""
    if not _MANAGER_VECTORS:
        for v in json.loads((VECTORS / "manager.json").read_text(encoding="utf-8"))["vectors"]:
            _MANAGER_VECTORS[v["name"]] = v
    return _MANAGER_VECTORS.get(name)


def check_manager(vector: dict) -> None:
    """A manager frame: envelope, payload and frame, against the Manager kinds table and
    ``mpwire.ManagerKind``; rebuilt byte for byte with mpwire; an answer checked against the
    request it names."""
    body = bytes.fromhex(vector["body"])
    expect(bytes.fromhex(vector["frame"]) == mpwire.frame(body), "frame is not the 4-byte length + body")
    envelope, payload = mpwire.split_body(body)
    expect(list(envelope) == vector["envelope"], f"envelope {envelope}, expected {vector['envelope']}")
    kind, code = vector["kind"], vector["kindCode"]
    expect(envelope.kind == code, "kindCode is not the envelope's kind")
    value = unpack(bytes(payload))
    match(vector["payload"], value)
    expect(msgpack.packb(to_python(vector["payload"]), use_bin_type=True) == bytes(payload), "packb does not give the payload")
    if kind in ("reply", "error"):
        expect(KINDS.get(kind) == code, f"{kind} is not a version-1 kind with code {code}")
        request = manager_vector(vector.get("answers", ""))
        expect(request is not None, f"the answer names no request of manager.json ({vector.get('answers')!r})")
        expect(MANAGER_KINDS.get(request["kind"]) in (mpwire.ManagerKind.CREATE, mpwire.ManagerKind.CALL, mpwire.ManagerKind.LOOKUP),
               f"{request['kind']} is one-way: nothing answers it")
        expect((envelope.source, envelope.destination, envelope.correlation) == (0, request["envelope"][2], request["envelope"][4]),
               "an answer goes from the supervisor (0) to the request's source, with its correlation")
        if kind == "reply":
            expect(mpwire.manager_answer(envelope, payload) == value, "manager_answer does not give the reply's value")
            if request["kind"] in ("managerCreate", "managerLookup"):
                _, typeid = mpwire.manager_reference(value)
                if request["kind"] == "managerCreate":
                    expect(typeid == to_python(request["payload"])[0], "a create is answered with the typeid it asked for")
        else:
            expect(isinstance(value, dict) and list(value) == ["type", "message"], "an error payload is {type, message}")
            try:
                mpwire.manager_answer(envelope, payload)
                raise Mismatch("manager_answer does not raise for an error answer")
            except mpwire.ManagerError as error:
                expect(value["type"] == mpwire.MANAGER_ERROR_PREFIX + error.code, f"the type is not ManagerError.{error.code}")
                expect(error.code in MANAGER_CODES, f"{error.code} is not in PROTOCOL.md's Manager errors table")
        again = mpwire.pack_body(mpwire.Envelope(code, 0, 0, envelope.destination, envelope.correlation), value)
    else:
        expect(MANAGER_KINDS.get(kind) == code, f"PROTOCOL.md's Manager kinds table does not give {kind} code {code}")
        member = kind[len("manager"):].upper()
        expect(mpwire.ManagerKind[member] == code, f"mpwire.ManagerKind.{member} is not code {code}")
        expect(envelope.destination == 0, "a manager frame goes to the supervisor (destination 0)")
        source, correlation = envelope.source, envelope.correlation
        requests = (mpwire.ManagerKind.CREATE, mpwire.ManagerKind.CALL, mpwire.ManagerKind.LOOKUP)
        if code in requests or code == mpwire.ManagerKind.CANCEL:
            expect(correlation != 0, f"a {kind} carries a non-zero correlation")
        else:
            expect(correlation == 0, f"a {kind} is one-way: correlation 0")
        if code == mpwire.ManagerKind.CREATE:
            again = mpwire.manager_create_body(source, correlation, value[0], value[1], value[2])
        elif code == mpwire.ManagerKind.CALL:
            again = mpwire.manager_call_body(source, correlation, value[0], value[1], value[2])
        elif code == mpwire.ManagerKind.LOOKUP:
            again = mpwire.manager_lookup_body(source, correlation, value[0])
        elif code == mpwire.ManagerKind.RETAIN:
            again = mpwire.manager_retain_body(source, value[0], value[1])
        elif code == mpwire.ManagerKind.RELEASE:
            again = mpwire.manager_release_body(source, value[0])
        elif code == mpwire.ManagerKind.TRANSIT:
            again = mpwire.manager_transit_body(source, value[0])
        else:
            again = mpwire.manager_cancel_body(source, correlation)
    expect(again == body, f"mpwire gives {again.hex()}")


def check_invalid_body(vector: dict) -> None:
    body = bytes.fromhex(vector["body"])
    if vector["stage"] == "split":
        try:
            mpwire.split_body(body)
        except mpwire.ProtocolError as error:
            expect(error.code == vector["error"], f"split_body fails with {error.code}, expected {vector['error']}")
            return
        raise Mismatch("split_body accepts it")
    _, payload = mpwire.split_body(body)
    try:
        mpwire.unpack_payload(payload)
    except (ValueError, msgpack.ExtraData):
        return
    raise Mismatch("the payload decodes")


CHECKS = [
    ("values.json", check_value),
    ("codable.json", check_value),
    ("invalid.json", check_invalid),
    ("frames.json", check_frames),
    ("envelopes.json", check_envelope),
    ("invalid-bodies.json", check_invalid_body),
    ("queues.json", check_queue),
    ("pool.json", check_pool),
    ("manager.json", check_manager),
]


def main() -> int:
    verbose = "-v" in sys.argv[1:]
    passed = failed = 0
    if not KINDS:
        print("FAIL PROTOCOL.md: no Kinds table found")
        failed += 1
    for name, code in KINDS.items():
        known = mpwire.Kind.__members__.get(name.upper())
        if known is None:
            print(f"note: mpwire.Kind has no {name.upper()} ({code}), which PROTOCOL.md defines", file=sys.stderr)
        elif known != code:
            print(f"FAIL PROTOCOL.md: {name} is code {code}, mpwire.Kind.{name.upper()} is {int(known)}")
            failed += 1
    seen_names: dict[str, str] = {}                  # name -> the file that used it first
    for file_name, check in CHECKS:
        document = json.loads((VECTORS / file_name).read_text(encoding="utf-8"))
        # A name identifies one vector across every file (reports and fixtures key on it).
        for name in [v["name"] for v in document["vectors"]]:
            if name in seen_names:
                print(f"FAIL {file_name}: the vector name {name} is used already in {seen_names[name]}")
                failed += 1
            seen_names.setdefault(name, file_name)
        for vector in document["vectors"]:
            try:
                check(vector)
            except (Mismatch, mpwire.ProtocolError, ValueError, TypeError, KeyError) as error:
                failed += 1
                print(f"FAIL {file_name} {vector.get('name')}: {error}")
            else:
                passed += 1
                if verbose:
                    print(f"ok   {file_name} {vector['name']}")
    envelope_kinds = {v["envelope"]["kind"] for v in json.loads((VECTORS / "envelopes.json").read_text(encoding="utf-8"))["vectors"]}
    for name in sorted(set(KINDS) - envelope_kinds, key=KINDS.get):
        print(f"FAIL envelopes.json: no vector of kind {name}, which PROTOCOL.md defines")
        failed += 1
    for file_name, heading, kinds in (("queues.json", "Queue kinds", QUEUE_KINDS), ("pool.json", "Pool kinds", POOL_KINDS),
                                      ("manager.json", "Manager kinds", MANAGER_KINDS)):
        vector_kinds = {v["kind"] for v in json.loads((VECTORS / file_name).read_text(encoding="utf-8"))["vectors"]}
        if not kinds:
            print(f"FAIL PROTOCOL.md: no {heading} table found")
            failed += 1
        for name in sorted(set(kinds) - vector_kinds, key=kinds.get):
            print(f"FAIL {file_name}: no vector of kind {name}, which PROTOCOL.md defines")
            failed += 1
    manager_answers = {v["kind"] for v in json.loads((VECTORS / "manager.json").read_text(encoding="utf-8"))["vectors"]}
    for kind in ("reply", "error"):
        if kind not in manager_answers:
            print(f"FAIL manager.json: no {kind} answer")
            failed += 1
    if not MANAGER_CODES:
        print("FAIL PROTOCOL.md: no Manager errors table found")
        failed += 1
    print(f"vectors: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
