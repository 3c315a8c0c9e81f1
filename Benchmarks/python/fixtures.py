"""The values the codec and frame cases work on, as in Benchmarks/Swift/Fixtures.swift."""

import struct
import zlib

import msgpack

# SmallStruct.sample
SMALL = {"id": 123456, "name": "temperature", "value": 21.5}

# BinaryStruct.sample: 1 KiB of bytes (i % 251), packed as bin 16.
BINARY = {"id": 7, "payload": bytes(i % 251 for i in range(1024))}


def stream_item(index):
    """SmallStruct.streamItem(index)."""
    return {"id": index, "name": f"worker-{index % 100}", "value": float(index) * 0.25}


def frames_stream(count):
    """`count` frames: 4-byte big-endian length, then the packed item."""
    parts = []
    for index in range(count):
        body = msgpack.packb(stream_item(index))
        parts.append(struct.pack(">I", len(body)))
        parts.append(body)
    return b"".join(parts)


def crc32(data):
    return zlib.crc32(data) & 0xFFFFFFFF
