"""Codec round trips: msgpack.packb then msgpack.unpackb (pickle.dumps/loads as an extra)."""

import pickle

import msgpack

from fixtures import BINARY, SMALL, crc32
from harness import Workload, case


def _round_trip(value):
    packed = msgpack.packb(value)
    assert msgpack.unpackb(packed) == value

    def msgpack_loop(n, value=value, packb=msgpack.packb, unpackb=msgpack.unpackb):
        for _ in range(n):
            unpackb(packb(value))

    def pickle_loop(n, value=value, dumps=pickle.dumps, loads=pickle.loads, protocol=pickle.HIGHEST_PROTOCOL):
        for _ in range(n):
            loads(dumps(value, protocol))

    return Workload(msgpack_loop,
                    info={"encoded_bytes": str(len(packed)), "encoded_crc32": str(crc32(packed))},
                    extras={"pickle": ("op/s", Workload(pickle_loop))})


@case("codec_small_struct", "op/s",
      "msgpack.unpackb(msgpack.packb({'id','name','value'})); one op = one round trip; extra: pickle dumps+loads")
def small_struct():
    return _round_trip(SMALL)


@case("codec_1k_binary", "op/s",
      "msgpack round trip of {'id', 'payload': 1 KiB bytes}; extra: pickle dumps+loads")
def binary_1k():
    return _round_trip(BINARY)
