"""`edgekit build`: a model as a .keras file with a manifest.json beside it, both written atomically."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from edgekit._version import __version__
from edgekit.ioutil import atomic_path, sha256_file, write_json_atomic
from edgekit.quiet import quiet_env, quiet_tf


def build_to_dir(
    name: str,
    input_size: int | None = None,
    num_classes: int = 1000,
    alpha: float | None = None,
    weights: str = "none",
    out: Path | None = None,
    classifier_activation: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Build and save; random weights (weights "none", or "auto" without ImageNet weights) come from seed, as in
    export: the same seed gives the same model."""
    import keras

    from edgekit.models.macs import count_params_macs
    from edgekit.models.registry import create_model, get_spec
    from edgekit.models.weights import weights_source, weights_used

    quiet_env()
    spec = get_spec(name)
    size = input_size or spec.default_input_size
    spec.check_input_size(size)
    keras.utils.set_random_seed(seed)
    model = create_model(spec.name, size, num_classes, alpha, weights, classifier_activation)
    params, macs = count_params_macs(model)
    folder = Path(out) if out else Path("edgekit-out") / spec.name / "keras"
    path = folder / f"{spec.name}.keras"
    with quiet_tf(), atomic_path(path) as tmp:
        model.save(str(tmp))
    record = {
        "edgekit_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": spec.name,
        "format": "keras",
        "precision": "fp32",
        "path": str(path),
        "files": [{"path": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}],
        "build": {
            "input_size": size,
            "num_classes": num_classes,
            "alpha": alpha,
            "weights": weights,
            "weights_used": weights_used(model),  # what --weights auto resolved to
            "seed": seed,
            "weights_source": weights_source(model),  # ported weights: publisher, file, SHA-256, preprocessing
            "classifier_activation": classifier_activation or "logits",
        },
        "input": {"shape": [1, size, size, 3], "dtype": "float32"},
        "preprocess": spec.preprocess.to_dict(),
        "params": params,
        "macs": macs,
    }
    write_json_atomic(folder / "manifest.json", record)
    return record
