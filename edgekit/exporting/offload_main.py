"""The side process itself: `python -m edgekit.exporting.offload_main SPEC.pkl` (started by offload.start).

Apart from offload.py so that the parent's side (offload) never imports the pipeline that imports it.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

from edgekit.exporting.formats import formats
from edgekit.exporting.offload import release_memory, save_records
from edgekit.exporting.pipeline import export_one
from edgekit.exporting.stagelog import stage
from edgekit.quiet import quiet_tf


def main(spec_path: str) -> int:
    with open(spec_path, "rb") as f:
        spec = pickle.load(f)
    rows, shared, records = formats(), spec["shared"], {}
    for name in spec["formats"]:
        stage(f"{name} {shared.opts.precision}: start")
        with quiet_tf():
            record = export_one(rows[name.partition("@")[0]], None, shared, name)  # "onnx@rpi5": a target's
        records[name] = record
        save_records(records, Path(spec["result"]))  # after each format: a later kill keeps the earlier ones
        release_memory()
    stage("side process: exit")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
