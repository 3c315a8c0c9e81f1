#!/usr/bin/env python3
"""Python peers of MPBenchmarks: bench.py [--quick] CASE... | all | --list

Prints one JSON line per case on stdout (see harness.py); exits 1 if any case failed.
A later issue adds a cases_<topic>.py module and imports it below.
"""

import json
import sys
import os

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import cases_codec  # noqa: E402,F401
import cases_frames  # noqa: E402,F401
import cases_process  # noqa: E402,F401
import cases_shared  # noqa: E402,F401
import cases_sync  # noqa: E402,F401
import cases_large  # noqa: E402,F401
import cases_queue  # noqa: E402,F401
import cases_pool  # noqa: E402,F401
import cases_manager  # noqa: E402,F401
import cases_remote  # noqa: E402,F401
import cases_pipeline  # noqa: E402,F401
import cases_scaling  # noqa: E402,F401


def main(argv):
    settings = dict(harness.FULL)
    names = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--quick":
            settings = dict(harness.QUICK)
        elif arg == "--list":
            for c in harness.CASES.values():
                print(f"{c.name}\t{c.unit}\t{c.summary}")
            return 0
        elif arg == "--samples":
            settings["samples"] = int(args.pop(0))
        elif arg == "--sample-seconds":
            settings["sample_seconds"] = float(args.pop(0))
        elif arg == "all":
            names += list(harness.CASES)
        elif arg.startswith("-"):
            print(__doc__, file=sys.stderr)
            return 2
        else:
            names.append(arg)
    if not names:
        print(__doc__, file=sys.stderr)
        return 2
    failed = False
    for name in names:
        c = harness.CASES.get(name)
        try:
            if c is None:
                raise LookupError("no such case (bench.py --list)")
            print(harness.run_case(c, settings), flush=True)
        except Exception as error:  # report and carry on with the next case
            print(json.dumps(dict(side="python", name=name, error=f"{type(error).__name__}: {error}")), flush=True)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
