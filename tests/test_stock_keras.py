"""Issue 23: every stock keras.applications model loads, and what Keras itself would load unsafely stays refused.

One architecture of every keras.applications family (found by walking keras.applications, so a family a later
Keras adds is tested too) is saved with random weights at a tiny input, passes edgekit's pre-Keras check and Keras'
safe mode; the families whose graphs hold keras.ops operations or keras.applications' own layers (the ones the
allowlist used to refuse) export to INT8 TFLite in the default run, every family in the slow set.
"""

from __future__ import annotations

import inspect
import json
import re
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import UsageError
from edgekit.safety import (
    CALLABLE_PARAMS,
    DENIED_KERAS_CLASSES,
    _defining_modules,
    check_keras_file,
    keras_src_classes,
    takes_callable,
)

# Exported in the default run: keras.ops in their graphs (MobileNetV3's hard-swish `x + 3`, ConvNeXt's residual
# adds) and keras.applications' registered layers (ConvNeXt's LayerScale); EfficientNetV2 for its preprocessing
# layers. InceptionResNetV2 (CustomScaleLayer) takes ~100 s to export: its load check is in the default run, its
# export in the slow set.
DEFAULT_EXPORTS = {"MobileNetV3Small", "ConvNeXtTiny", "EfficientNetV2B0"}
SMALL_TAGS = ("Small", "Tiny", "Mobile", "B0")


def families() -> dict[str, str]:
    """{keras.applications module: its smallest architecture}: one constructor per defining module."""
    import keras

    found: dict[str, list[str]] = {}
    for name in dir(keras.applications):
        obj = getattr(keras.applications, name)
        if inspect.isfunction(obj) and name[:1].isupper():
            found.setdefault(obj.__module__.rsplit(".", 1)[-1], []).append(name)
    return {family: _smallest(names) for family, names in sorted(found.items())}


def _smallest(names: list[str]) -> str:
    """The family's small variant: a Small/Tiny/Mobile/B0 suffix, else the lowest depth (ResNet50, DenseNet121)."""
    prefix = len(next(iter(names))) if len(names) == 1 else len(_common_prefix(names))

    def key(name: str) -> tuple:
        rest = name[prefix:]
        depth = re.search(r"(\d+)$", name)
        return (not any(tag in rest for tag in SMALL_TAGS), int(depth.group(1)) if depth else 0, len(name), name)

    return sorted(names, key=key)[0]


def _common_prefix(names: list[str]) -> str:
    first, last = min(names), max(names)
    i = 0
    while i < min(len(first), len(last)) and first[i] == last[i]:
        i += 1
    return first[:i]


def _build(arch: str, folder: Path) -> Path:
    """Random weights, 5 classes, the smallest square input the architecture accepts (32, else 75 px)."""
    import keras

    for size in (32, 75):
        try:
            model = getattr(keras.applications, arch)(weights=None, input_shape=(size, size, 3), classes=5)
            break
        except ValueError:  # "input size must be at least 75x75" (Inception, Xception)
            continue
    path = folder / f"{arch}.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def stock_models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("stock")
    return {arch: _build(arch, folder) for arch in families().values()}


def test_every_family_is_found():
    archs = set(families().values())
    expected = {"ConvNeXtTiny", "DenseNet121", "EfficientNetB0", "EfficientNetV2B0", "InceptionResNetV2"}
    expected |= {"InceptionV3", "MobileNet", "MobileNetV2", "MobileNetV3Small", "NASNetMobile", "ResNet50"}
    expected |= {"ResNet50V2", "VGG16", "VGG19", "Xception"}
    assert expected <= archs, expected - archs
    assert DEFAULT_EXPORTS <= archs


def test_every_stock_model_passes_the_check_and_keras_safe_mode(stock_models):
    import keras

    kinds = set()
    for arch, path in stock_models.items():
        check_keras_file(path)  # refused before issue 23: ConvNeXt, InceptionResNetV2, MobileNetV3
        kinds |= _keras_src_objects(path)
        model = keras.models.load_model(str(path), safe_mode=True, compile=False)
        assert model.outputs[0].shape[-1] == 5, arch
    # The objects the allowlist now has to accept are really in these files (else this test proves nothing).
    assert {"keras.src.ops.numpy.Add", "keras.src.applications.convnext.LayerScale"} <= kinds
    assert "keras.src.applications.inception_resnet_v2.CustomScaleLayer" in kinds


def _keras_src_objects(path: Path) -> set[str]:
    found: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            if str(node.get("module", "")).startswith("keras.src.") and "class_name" in node:
                found.add(f"{node['module']}.{node['class_name']}")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    with zipfile.ZipFile(path) as archive:
        walk(json.loads(archive.read("config.json")))
    return found


def _export_int8(path: Path, out: Path) -> tuple[dict, float]:
    import edgekit

    start = time.perf_counter()
    records = edgekit.export(
        path, precision="int8", formats="tflite", calib="synthetic", calib_size=8, holdout=4, out=out
    )
    return records[0], time.perf_counter() - start


def _check_int8_tflite(record: dict) -> None:
    from edgekit.device import open_model

    assert record["status"] == "ok" and record["precision"] == "int8", record.get("error")
    loaded = open_model(Path(record["path"]), runtime="litert")
    (spec,) = loaded.input_specs()
    assert spec["dtype"] == "int8" and loaded.output_specs()[0]["dtype"] == "int8"  # full-integer in and out
    (out,) = loaded.run([np.zeros(spec["shape"], np.int8)])
    assert out.shape[-1] == 5


@pytest.mark.parametrize("arch", sorted(DEFAULT_EXPORTS))
def test_stock_models_with_keras_ops_and_application_layers_export_to_int8(arch, stock_models, tmp_path):
    record, seconds = _export_int8(stock_models[arch], tmp_path / "out")
    _check_int8_tflite(record)
    print(f"{arch}: int8 TFLite in {seconds:.1f} s")


@pytest.mark.slow
def test_every_stock_family_exports_to_int8(stock_models, tmp_path):
    times = {}
    for arch, path in stock_models.items():
        record, times[arch] = _export_int8(path, tmp_path / "out")
        _check_int8_tflite(record)
    print("int8 TFLite export seconds:", json.dumps({a: round(s, 1) for a, s in times.items()}))


# ------------------------------------------------------------------------------- what stays refused, and why
def _replace_first_op(src: Path, dst: Path, **fields) -> Path:
    """Copy MobileNetV3Small's archive, turning its first keras.ops node into another object."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "config.json":
                config = json.loads(data)
                op = next(n for n in config["config"]["layers"] if n["module"] == "keras.src.ops.numpy")
                op.update({"registered_name": fields["class_name"], **fields})
                data = json.dumps(config).encode()
            zout.writestr(info.filename, data)
    return dst


HOSTILE_KERAS_SRC = {  # each would be found by Keras' importlib path for keras.* modules; edgekit refuses them
    "map": ({"module": "keras.src.ops.core", "class_name": "Map"}, "calls a Python function"),
    "while-loop": ({"module": "keras.src.ops.core", "class_name": "WhileLoop"}, "Python callable"),
    "jvp": ({"module": "keras.src.ops.linalg", "class_name": "JVP"}, "calls the Python function"),
    "lambda-module": ({"module": "keras.src.layers.core.lambda_layer", "class_name": "Lambda"}, "Lambda"),
    "tfsm": ({"module": "keras.src.export.tfsm_layer", "class_name": "TFSMLayer"}, "TFSMLayer"),
    "serialization": (
        {"module": "keras.src.saving.serialization_lib", "class_name": "SafeModeScope"},
        "safe mode off",
    ),
    "file-utils": ({"module": "keras.src.utils.file_utils", "class_name": "get_file"}, "get_file"),
    "torch": ({"module": "keras.src.utils.torch_utils", "class_name": "TorchModuleWrapper"}, "carries Python code"),
    "imported-name": (  # Functional is imported into convnext's module, not defined there
        {"module": "keras.src.applications.convnext", "class_name": "Functional"},
        "not a keras.ops operation or keras.applications layer",
    ),
    "base-class": ({"module": "keras.src.ops.operation", "class_name": "Operation"}, "not a keras.ops operation"),
    "registered-elsewhere": (
        {"module": "keras.src.ops.numpy", "class_name": "Add", "registered_name": "edgekit>ClassToken"},
        "registered as",
    ),
    "unknown-op": ({"module": "keras.src.ops.numpy", "class_name": "Popen"}, "not a keras.ops operation"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_KERAS_SRC))
def test_keras_src_objects_outside_the_enumerated_ones_are_refused(kind, stock_models, tmp_path, monkeypatch):
    fields, why = HOSTILE_KERAS_SRC[kind]
    evil = _replace_first_op(stock_models["MobileNetV3Small"], tmp_path / f"{kind}.keras", **fields)
    import keras

    def never(*args, **kwargs):
        raise AssertionError("Keras was asked to load a refused file")

    monkeypatch.setattr(keras.models, "load_model", never)
    from edgekit.exporting.options import ExportOptions
    from edgekit.exporting.source import load_keras_file

    with pytest.raises(UsageError, match="refusing to load") as refused:
        load_keras_file(evil, ExportOptions(model=str(evil)))
    assert why in refused.value.message and fields["class_name"] in refused.value.message


def test_keras_itself_would_load_the_denied_control_flow_ops():
    """The denylist is not theoretical: Keras' importlib path hands these classes out for a keras.src module."""
    from keras.src.saving.serialization_lib import _retrieve_class_or_fn

    for module, name in (("keras.src.ops.core", "Map"), ("keras.src.ops.linalg", "JVP")):
        assert _retrieve_class_or_fn(name, name, module, "class", {}, {}).__name__ == name


def test_the_denylist_names_every_op_that_takes_a_callable():
    """Every class the signature rule removes is in DENIED_KERAS_CLASSES with its reason, and nothing else is."""
    import importlib

    import keras
    from keras.src.ops.operation import Operation

    caught = set()
    for module in _defining_modules(keras.ops):
        for name, cls in vars(importlib.import_module(module)).items():
            if inspect.isclass(cls) and issubclass(cls, Operation) and cls.__module__ == module and takes_callable(cls):
                caught.add(name)
    assert caught == set(DENIED_KERAS_CLASSES)
    allowed = keras_src_classes()
    assert "Add" in allowed["keras.src.ops.numpy"] and "LayerScale" in allowed["keras.src.applications.convnext"]
    assert not any(set(DENIED_KERAS_CLASSES) & names for names in allowed.values())
    assert "f" in CALLABLE_PARAMS
