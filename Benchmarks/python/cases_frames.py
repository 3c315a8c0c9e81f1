"""Frame streams: 4-byte big-endian length + one msgpack value."""

import struct

import msgpack

from fixtures import crc32, frames_stream, stream_item
from harness import Workload, case

STREAM_COUNT = 100_000


@case("frames_decode_stream", "frames/s",
      "one bytes object of 100,000 frames; per frame struct.unpack_from('>I') of the length, "
      "then msgpack.unpackb of a memoryview slice of the body into a dict; one op = one frame")
def frames_decode_stream():
    stream = frames_stream(STREAM_COUNT)

    def decode_all(stream=stream, unpack_from=struct.Struct(">I").unpack_from, unpackb=msgpack.unpackb):
        view = memoryview(stream)
        end = len(stream)
        position = 0
        count = 0
        while position < end:
            (length,) = unpack_from(stream, position)
            position += 4
            unpackb(view[position:position + length])
            position += length
            count += 1
        return count

    # Check once, untimed, that the stream decodes to what was written.
    view, position, index = memoryview(stream), 0, 0
    while position < len(stream):
        (length,) = struct.unpack_from(">I", stream, position)
        assert msgpack.unpackb(view[position + 4:position + 4 + length]) == stream_item(index)
        position += 4 + length
        index += 1
    assert index == STREAM_COUNT

    def loop(n):
        for _ in range(n):
            decode_all()

    return Workload(loop, ops_per_iteration=STREAM_COUNT,
                    info={"stream_bytes": str(len(stream)), "stream_crc32": str(crc32(stream))})
