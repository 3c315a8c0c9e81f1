#!/usr/bin/env python3
"""The stage of pipeline_exec's Swift side: each line back as it came (mpctl exec's per-item
cost, with a Python worker on both sides)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Protocols", "python"))
import mpstage  # noqa: E402


@mpstage.stage
def same(line):
    return [line]


if __name__ == "__main__":
    same.run()
