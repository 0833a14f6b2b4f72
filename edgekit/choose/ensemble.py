"""`edgekit ensemble`: one Keras model that averages its members' logits and then applies softmax.

The notes (cnn-models-notes, "Ensemble") recommend averaging logits rather than probabilities, and members whose
architectures differ most. The ensemble is built only from Keras' own layers (nested member models, Conv2D input
adapters, Resizing, Average, Softmax): no Lambda, so it saves and loads in safe mode and exports like any model.
Its input is in edgekit's default preprocessing ([-1, 1]); a member trained on another one (Caffe BGR means,
Torch mean/std, raw pixels) gets a fixed 1x1 convolution in front that maps [-1, 1] to what it expects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import console
from edgekit._version import __version__
from edgekit.errors import UsageError
from edgekit.ioutil import atomic_path, sha256_file, write_json_atomic
from edgekit.quiet import quiet_env, quiet_tf
from edgekit.safety import check_keras_file


@dataclass(frozen=True)
class EnsembleOptions:
    members: tuple[str, ...]
    input_size: int | None = None
    weights: str = "none"  # for members given by name: none | imagenet | PATH
    num_classes: int = 1000
    out: Path | None = None  # export root: writes <out>/ensemble/keras/ensemble.keras
    holdout: int = 32
    seed: int = 0


@dataclass
class Member:
    source: str  # the .keras path or the model name given
    name: str  # architecture (zoo name) or file stem
    family: str | None
    model: Any
    size: int
    classes: int
    pre: Any  # edgekit.models.registry.Preprocess
    keras_path: Path | None


# ---------------------------------------------------------------------------------------------------------------------
# Members


def _is_file(item: str) -> bool:
    return item.endswith(".keras") or Path(item).exists()


def validate(opts: EnsembleOptions) -> None:
    """Before anything loads: two members at least, files that exist, names the zoo knows (one bad: none built)."""
    from edgekit.models.registry import get_spec

    if len(opts.members) < 2:
        raise UsageError("an ensemble needs at least two members")
    for item in opts.members:
        if _is_file(item):
            path = Path(item)
            if not path.is_file():
                raise UsageError(f"no such model file: {path}")
            if path.suffix != ".keras":
                raise UsageError(f"{path} is not a .keras file (members are .keras files or model names)")
        else:
            get_spec(item)


def _manifest(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.with_name("manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    if meta.get("path") and Path(meta["path"]).name != path.name:
        return {}  # the manifest of another model in the same folder
    return meta


def _preprocess_of(model: Any, meta: dict[str, Any]) -> tuple[Any, str | None, str | None]:
    """(Preprocess, architecture, family) the way export reads a .keras file (manifest, else its first layers)."""
    from edgekit.data.labelled import keras_file_preprocess
    from edgekit.models.registry import get_spec

    pre, _origin = keras_file_preprocess(model, meta, None)
    arch = meta.get("architecture") or meta.get("model")
    try:
        spec = get_spec(arch) if arch else None
    except UsageError:
        spec = None
    return pre, (spec.name if spec else None), (spec.family if spec else None)


def _load_file(path: Path) -> Any:
    import keras

    from edgekit.models.blocks import custom_objects

    check_keras_file(path)  # a member from elsewhere: Lambda bytecode, foreign modules, traversal refused first
    try:
        return keras.models.load_model(str(path), safe_mode=True, compile=False, custom_objects=custom_objects())
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"refusing to load {path.name} (Keras safe mode): {reason[:300]}") from exc


def _outputs_logits(model: Any) -> bool:
    last = model.layers[-1]
    act = getattr(last, "activation", None)
    return type(last).__name__ != "Softmax" and getattr(act, "__name__", "") != "softmax"


def load_members(opts: EnsembleOptions) -> list[Member]:
    from edgekit.models.registry import create_model, get_spec

    members = []
    for item in opts.members:
        if _is_file(item):
            path = Path(item)
            model = _load_file(path)
            pre, arch, family = _preprocess_of(model, _manifest(path))
            name = arch or path.stem
        else:
            spec = get_spec(item)
            model = create_model(spec.name, opts.input_size, opts.num_classes, None, opts.weights)
            path, pre, name, family = None, spec.preprocess, spec.name, spec.family
        shape = model.inputs[0].shape
        if len(shape) != 4 or shape[1] is None or shape[1] != shape[2]:
            raise UsageError(f"{item}: members must be image classifiers with a square static input, got {shape}")
        if not _outputs_logits(model):
            raise UsageError(f"{item} ends in a softmax: the notes average logits; rebuild it with --logits")
        members.append(Member(item, name, family, model, int(shape[1]), int(model.outputs[0].shape[-1]), pre, path))
    return members


def check_compatible(members: list[Member], input_size: int | None) -> int:
    """The ensemble's input size; refuses different class counts, and different input sizes unless resized."""
    classes = {m.classes for m in members}
    if len(classes) > 1:
        listing = ", ".join(f"{m.source}: {m.classes}" for m in members)
        raise UsageError(f"members predict different numbers of classes ({listing}): they cannot be averaged")
    sizes = {m.size for m in members}
    if input_size is None and len(sizes) > 1:
        listing = ", ".join(f"{m.source}: {m.size} px" for m in members)
        raise UsageError(f"members take different input sizes ({listing}): pass --input-size N to resize for each")
    return input_size or sizes.pop()


def diversity_note(members: list[Member]) -> str:
    """The notes: prefer members whose architectures differ most."""
    seen: dict[str, str] = {}
    for m in members:
        key = m.family or m.name
        if key in seen:
            return (
                f"{seen[key]} and {m.source} are both {key}: the notes recommend members whose architectures differ "
                "most (e.g. an EfficientNet with a ResNet), since different networks make different mistakes"
            )
        seen[key] = m.source
    return f"members' architectures differ ({', '.join(m.family or m.name for m in members)}), as the notes recommend"


# ---------------------------------------------------------------------------------------------------------------------
# The graph


def adapter_weights(pre: Any) -> tuple[np.ndarray, np.ndarray]:
    """1x1 conv kernel (1, 1, 3, 3) and bias mapping edgekit's [-1, 1] input to a member's preprocessing.

    x = p / 127.5 - 1, so p = 127.5 (x + 1); the member wants ((p * scale + offset) - mean) / std per RGB channel,
    then its channel order."""
    kernel = np.zeros((1, 1, 3, 3), np.float32)
    bias = np.zeros(3, np.float32)
    order = [2, 1, 0] if pre.channels == "BGR" else [0, 1, 2]
    for out_ch, src in enumerate(order):
        kernel[0, 0, src, out_ch] = 127.5 * pre.scale / pre.std[src]
        bias[out_ch] = (127.5 * pre.scale + pre.offset - pre.mean[src]) / pre.std[src]
    return kernel, bias


def build_graph(members: list[Member], size: int) -> Any:
    import keras
    from keras import layers

    from edgekit.models.registry import PREPROCESS_TF

    inp = keras.Input((size, size, 3), name="input")
    logits = []
    for i, m in enumerate(members):
        x = inp
        if m.pre.to_dict() != PREPROCESS_TF.to_dict():
            conv = layers.Conv2D(3, 1, name=f"member{i}_preprocess", trainable=False)
            x = conv(x)
            conv.set_weights(list(adapter_weights(m.pre)))
        if m.size != size:
            x = layers.Resizing(m.size, m.size, interpolation="bilinear", name=f"member{i}_resize")(x)
        wrapped = keras.Model(m.model.inputs[0], m.model.outputs[0], name=f"member{i}_{m.name}"[:60])
        logits.append(wrapped(x))
    avg = layers.Average(name="average_logits")(logits)
    out = layers.Softmax(name="softmax")(avg)
    return keras.Model(inp, out, name="ensemble")


# ---------------------------------------------------------------------------------------------------------------------
# Checks


def _member_input(raw: np.ndarray, pre: Any) -> np.ndarray:
    from edgekit.data.images import normalize

    return normalize(raw, pre)


def fidelity_and_diversity(ens: Any, members: list[Member], size: int, n: int, seed: int) -> dict[str, Any]:
    """The ensemble vs softmax(mean of the members' float logits), each member fed its own preprocessing at its own
    size (the same photograph crops); and how often the members disagree."""
    from edgekit.data import calibration as data

    # The logits' agreement is measured by the exporter's fidelity check, the same figures an export reports.
    from edgekit.exporting import fidelity
    from edgekit.models.registry import PREPROCESS_TF, Preprocess

    raw_pre = Preprocess(scale=1.0, offset=0.0)
    x = data.builtin(n, size, PREPROCESS_TF, seed).images
    member_logits = []
    for m in members:
        raw = data.builtin(n, m.size, raw_pre, seed).images
        member_logits.append(np.asarray(m.model.predict(_member_input(raw, m.pre), verbose=0)))
    # Compared as centred log-probabilities (the averaged logits up to a constant): softmax outputs of near-uniform
    # predictions look alike whatever the logits, so their cosine would say little.
    reference = np.mean(member_logits, axis=0)
    reference = reference - reference.mean(axis=-1, keepdims=True)
    got = np.log(np.maximum(np.asarray(ens.predict(x, verbose=0), np.float64), 1e-30))
    got = got - got.mean(axis=-1, keepdims=True)
    fid = fidelity.fidelity_metrics(reference, got)
    tops = [np.argmax(z, axis=-1) for z in member_logits]
    pairs = [(i, j) for i in range(len(tops)) for j in range(i + 1, len(tops))]
    disagree = float(np.mean([np.mean(tops[i] != tops[j]) for i, j in pairs]))
    return {
        "fidelity": {
            **fid,
            "reference": "mean of the members' float logits vs the ensemble's log-probabilities, both centred "
            "(equal up to a constant when the graph is exact); builtin photographs, each member at its own size",
        },
        "member_top1_disagreement": round(disagree, 4),
    }


def accuracy_gain(ens: Any, members: list[Member], size: int) -> dict[str, Any]:
    """Labelled accuracy of each member and of the ensemble on the validation images of `edgekit train`, when every
    member was trained on the same data (same fingerprint and split)."""
    from edgekit.data.images import load_image
    from edgekit.data.labelled import training_record
    from edgekit.models.registry import PREPROCESS_TF

    records = [training_record(m.keras_path) if m.keras_path else None for m in members]
    if any(r is None for r in records):
        return {"available": False, "reason": "not every member was trained by `edgekit train`"}
    if len({(r["fingerprint"], tuple(r["split"]["val"])) for r in records}) > 1:
        return {"available": False, "reason": "the members were trained on different data or splits"}
    root, names, val = Path(records[0]["data_root"]), records[0]["classes"], records[0]["split"]["val"]
    try:
        labels = np.asarray([names.index(Path(r).parts[0]) for r in val])
        per_member = {}
        for m in members:
            images = np.stack([load_image(root / r, m.size, m.pre) for r in val])
            per_member[m.source] = float(np.mean(np.argmax(m.model.predict(images, verbose=0), -1) == labels))
        x = np.stack([load_image(root / r, size, PREPROCESS_TF) for r in val])
        ens_acc = float(np.mean(np.argmax(ens.predict(x, verbose=0), -1) == labels))
    except (OSError, ValueError) as exc:
        return {"available": False, "reason": f"the validation images are not readable any more ({exc})"}
    best = max(per_member.values())
    return {
        "available": True,
        "images": len(val),
        "members": per_member,
        "ensemble": ens_acc,
        "gain_over_best_member": round(ens_acc - best, 4),
    }


# ---------------------------------------------------------------------------------------------------------------------
# Command


def _save_and_reload(ens: Any, path: Path) -> float:
    """Save atomically, reload in safe mode (no Lambda may hide in it) and return the largest output difference."""
    import keras

    probe = np.random.default_rng(0).uniform(-1, 1, (2, *ens.inputs[0].shape[1:])).astype(np.float32)
    with quiet_tf(), atomic_path(path) as tmp:
        ens.save(str(tmp))
        from edgekit.models.blocks import custom_objects

        again = keras.models.load_model(str(tmp), safe_mode=True, compile=False, custom_objects=custom_objects())
        diff = float(np.max(np.abs(again.predict(probe, verbose=0) - ens.predict(probe, verbose=0))))
    return diff


def build_ensemble(opts: EnsembleOptions, say=None) -> dict[str, Any]:
    from edgekit.models.macs import count_params_macs
    from edgekit.models.registry import PREPROCESS_TF

    validate(opts)
    folder = Path(opts.out or "edgekit-out") / "ensemble" / "keras"  # --out is the export root, as everywhere
    from edgekit.choose.report import check_output_file

    check_output_file(folder / "ensemble.keras", "--out")
    quiet_env()
    with quiet_tf():
        members = load_members(opts)
        size = check_compatible(members, opts.input_size)
        ens = build_graph(members, size)
    path = folder / "ensemble.keras"
    reload_diff = _save_and_reload(ens, path)
    checks = fidelity_and_diversity(ens, members, size, opts.holdout, opts.seed)
    gain = accuracy_gain(ens, members, size)
    params, macs = count_params_macs(ens)
    record = {
        "edgekit_version": __version__,
        "model": "ensemble",
        "format": "keras",
        "precision": "fp32",
        "path": str(path),
        "files": [{"path": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}],
        "members": [
            {
                "source": m.source,
                "architecture": m.name,
                "family": m.family,
                "input_size": m.size,
                "preprocess": m.pre.to_dict(),
            }
            for m in members
        ],  # fmt: skip
        "combine": "softmax(mean of the members' logits)",
        "build": {"input_size": size, "num_classes": members[0].classes},
        "input": {"shape": [1, size, size, 3], "dtype": "float32"},
        "preprocess": PREPROCESS_TF.to_dict(),
        "params": params,
        "macs": macs,
        "safe_mode_reload_max_diff": reload_diff,
        **checks,
        "accuracy": gain,
        "diversity_note": diversity_note(members),
        "next": f"edgekit export {path} --int8, then edgekit profile --target T: one graph, predicted or measured",
    }
    write_json_atomic(folder / "manifest.json", record)
    return record


def render_ensemble(record: dict[str, Any]) -> None:
    fid = record["fidelity"]
    console.info(
        f"wrote {record['path']}: {len(record['members'])} members, {record['params']:,} parameters, "
        f"{record['macs'] / 1e9:.3f} GMACs"
    )
    console.info(
        f"fidelity vs the members' float average: cosine {fid['cosine']:.6f}, top-1 agreement "
        f"{fid['top1_agreement']:.2f} ({fid['n']} images); members disagree on "
        f"{record['member_top1_disagreement']:.0%} of top-1s"
    )
    acc = record["accuracy"]
    if acc.get("available"):
        console.info(
            f"accuracy: ensemble {acc['ensemble']:.3f}, gain over the best member {acc['gain_over_best_member']:+.3f}"
        )
    else:
        console.info(f"accuracy gain: not measured ({acc['reason']})")
    console.info(record["diversity_note"])
    console.info(f"next: {record['next']}")
