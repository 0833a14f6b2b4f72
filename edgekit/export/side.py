"""The side process of `export`: ONNX Runtime and OpenVINO/NNCF work while the parent converts TFLite.

Run as `python -m edgekit.export.side SPEC.pkl` by edgekit.export.core (SPEC is written by the parent into its
private temporary folder, never taken from users). It imports no TensorFlow.
"""

from __future__ import annotations

import pickle
import sys


def main(spec_path: str) -> int:
    from edgekit.export import formats
    from edgekit.export.core import export_one
    from edgekit.export.quiet import quiet_tf

    with open(spec_path, "rb") as f:
        spec = pickle.load(f)
    rows = formats()
    with quiet_tf():
        records = {name: export_one(rows[name], None, spec["shared"]) for name in spec["formats"]}
    with open(spec["result"], "wb") as f:
        pickle.dump(records, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
