#!/usr/bin/env python3
"""The parse stage of the LogPipeline example: one log line in, one record out (a dict, which
the Swift stages read as a `Record`), or nothing for a garbled line (a filter)."""

import os
import re
import sys

try:
    import mpstage                                   # pip install ./Protocols/python
except ImportError:                                  # run from a clone without installing it
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Protocols", "python"))
    import mpstage

LINE = re.compile(r'^(\S+) - - \[([^\]]+)\] "(\S+) (\S+) HTTP/1\.1" (\d{3}) (\d+) (\d+)ms$')


@mpstage.stage
def parse(line):
    match = LINE.match(line)
    if match is None:
        return None                                  # garbled: dropped
    ip, time, method, path, status, size, ms = match.groups()
    return [{"ip": ip, "time": time, "method": method, "path": path,
             "status": int(status), "bytes": int(size), "ms": int(ms)}]


if __name__ == "__main__":
    parse.run()
