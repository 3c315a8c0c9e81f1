"""A pipeline stage in Python for ``mpctl run`` (docs/MPCTL.md, Protocols/PROTOCOL.md "Pipeline stages").

A stage's worker takes one item per request and answers with the items it makes (zero, one or
several). With this module a stage is a function::

    # parse.py, named in the pipeline file as `command: [python3, parse.py]`
    import mpstage

    @mpstage.stage
    def parse(line):
        if line.startswith("#"):
            return None                      # a filter: nothing goes on
        return line.split()                  # a list: each element is one output item

    if __name__ == "__main__":
        parse.run()

What the function returns becomes the reply: ``None`` is no item, a list, tuple or generator is
its elements, anything else is one item (so return ``[a_list]`` to pass a list on as one item).
An exception answers that item with an error (its type and message), which mpctl counts and
reports; the worker carries on with the next item. For more control, loop over the requests::

    for request in mpstage.requests():
        request.reply([request.item.upper()])

Install with ``pip install ./Protocols/python`` (needs PyPI's ``msgpack``).
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from typing import Any, Callable, Iterator

import mpwire
from mpwire import Envelope, Kind

__all__ = ["stage", "requests", "Request", "serve"]


class Request:
    """One item to process; answer it once with ``reply`` or ``fail``."""

    def __init__(self, channel: mpwire.Channel, envelope: Envelope, item: Any):
        self._channel = channel
        self._envelope = envelope
        self.item = item
        self.answered = False

    def reply(self, outputs: list | tuple) -> None:
        """Answers with these output items (an empty list drops the item)."""
        self._answer(Kind.REPLY, list(outputs))

    def fail(self, error: BaseException) -> None:
        """Answers with an error: the item fails, the pipeline goes on."""
        self._answer(Kind.ERROR, mpwire.error_from_exception(error))

    def _answer(self, kind: Kind, payload: Any) -> None:
        if self.answered:
            raise RuntimeError("this item was answered already")
        self.answered = True
        self._channel.send(self._envelope.answer(kind), payload)


def requests(entry: str | None = None) -> Iterator[Request]:
    """Shakes hands with the supervisor (mpctl), then yields each request until the channel
    closes (the pipeline is done: return, and exit 0). A request left unanswered when the loop
    moves on is answered with no outputs."""
    channel = mpwire.Channel()
    channel.handshake(entry or os.environ.get("MP_ENTRY") or os.environ.get("MP_STAGE") or "python-stage")
    while (body := channel.receive()) is not None:
        envelope, payload = mpwire.split_body(body)
        if envelope.kind == Kind.REQUEST:
            try:
                item = mpwire.unpack_payload(payload)
            except Exception as error:                 # not exactly one valid value
                channel.send(envelope.answer(Kind.ERROR), mpwire.error_from_exception(error))
                continue
            request = Request(channel, envelope, item)
            yield request
            if not request.answered:
                request.reply([])
        elif envelope.kind == Kind.GOODBYE:
            try:
                channel.send(Envelope(Kind.GOODBYE, 0, channel.id, mpwire.SUPERVISOR_ID, 0), {"status": 0})
            except BrokenPipeError:
                pass
            return
        elif envelope.kind not in (Kind.MESSAGE, Kind.REPLY, Kind.ERROR, Kind.PAUSE, Kind.RESUME):
            channel.send(envelope.answer(Kind.ERROR), mpwire.remote_error(
                "ProtocolError.unknownKind", f"kind {envelope.kind} is not known to a pipeline stage"))


def outputs_of(result: Any) -> list:
    """The output items of a stage function's result (see the module's documentation)."""
    if result is None:
        return []
    if isinstance(result, (list, tuple)) or inspect.isgenerator(result):
        return list(result)
    return [result]


def serve(function: Callable[[Any], Any], entry: str | None = None) -> None:
    """Runs ``function`` on every item until the pipeline ends."""
    for request in requests(entry):
        try:
            outputs = outputs_of(function(request.item))
        except Exception as error:                     # the item fails, the stage goes on
            request.fail(error)
            continue
        request.reply(outputs)


def stage(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Marks ``function`` as a stage: it stays callable (for tests), and ``function.run()``
    serves it to mpctl."""
    @functools.wraps(function)
    def wrapper(item):
        return function(item)
    wrapper.run = lambda entry=None: _run(function, entry)
    return wrapper


def _run(function: Callable[[Any], Any], entry: str | None) -> None:
    try:
        serve(function, entry)
    except mpwire.ProtocolError as error:              # refused, truncated or oversized
        sys.exit(f"{os.environ.get('MP_STAGE', 'stage')}: {error}")
