"""A manager over TCP (issue 13): the Python peer of remote_dict_ops.

remote_dict_ops: a BaseManager serving a dict on ('127.0.0.1', 0) with an authkey, started
in its own process (BaseManager.start(), fork on Linux); bench.py connects to it with the
authkey (BaseManager.connect()) and does d['k'] = i then d['k'] (checked) through a DictProxy;
one op = one set+get pair. The server is shut down when the case ends.
"""

import weakref
from multiprocessing.managers import BaseManager, DictProxy

from harness import Workload, case

AUTHKEY = b"remote_dict_ops benchmark key"
_served = {}


def _the_dict():
    return _served


class _RemoteManager(BaseManager):
    pass


_RemoteManager.register("the_dict", callable=_the_dict, proxytype=DictProxy)


@case("remote_dict_ops", "us",
      "BaseManager(address=('127.0.0.1', 0), authkey) server process, connected to with the "
      "authkey: d['k'] = i then d['k'] (checked) through a DictProxy; one op = one set+get pair")
def remote_dict_ops():
    server = _RemoteManager(address=("127.0.0.1", 0), authkey=AUTHKEY)
    server.start()
    try:
        client = _RemoteManager(address=server.address, authkey=AUTHKEY)
        client.connect()
        shared = client.the_dict()
    except BaseException:
        server.shutdown()
        raise

    # The loop holds both managers: a BaseManager shuts its server down when it is collected.
    def loop(n, managers=(server, client)):
        for i in range(n):
            shared["k"] = i
            if shared["k"] != i:
                raise RuntimeError(f"d['k'] read back {shared['k']!r} after d['k'] = {i}")

    workload = Workload(loop, info={"transport": "tcp loopback"})
    weakref.finalize(workload, server.shutdown)
    return workload
