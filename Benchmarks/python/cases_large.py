"""One large message from a child to the parent (issue 10, section 4): the Python peer.

- large_message: a forked child answers each request (a size, over multiprocessing.Pipe())
  with conn.send_bytes of that many bytes, built once; the parent's conn.recv_bytes() takes it.

The child is a daemon and is stopped and joined when the harness drops the Workload.
"""

import weakref

from cases_process import REPLY_TIMEOUT, _start_pipe_child, _stop
from harness import Workload, case

# The same size as the Swift side: 64 MiB less 64 bytes.
SIZE = (64 << 20) - 64


def _blob(conn):
    blob = b""
    while True:
        size = conn.recv()
        if size is None:
            break
        if len(blob) != size:
            blob = b"\x5a" * size
        conn.send_bytes(blob)
    conn.close()


@case("large_message", "ms",
      "a forked child answers conn.send(size) with conn.send_bytes of 64 MiB (less 64 bytes) over "
      "multiprocessing.Pipe(); one op = the request + conn.recv_bytes() of the whole message")
def large_message():
    parent_end, child = _start_pipe_child(_blob)
    parent_end.send(SIZE)
    if not parent_end.poll(REPLY_TIMEOUT) or len(parent_end.recv_bytes()) != SIZE:
        _stop([child], [lambda: parent_end.send(None)])
        raise RuntimeError("the child did not send the message")

    def loop(n, send=parent_end.send, recv=parent_end.recv_bytes, size=SIZE):
        for _ in range(n):
            send(size)
            recv()

    workload = Workload(loop, info={"start_method": "fork", "bytes": str(SIZE)})
    weakref.finalize(workload, _stop, [child], [lambda: parent_end.send(None)])
    return workload
