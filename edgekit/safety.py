""".keras files are zip archives whose config.json Keras turns into objects: refuse code before Keras sees the file.

Keras' safe_mode alone has been bypassed repeatedly (CVE-2025-1550: a config naming any importable module and
function; CVE-2025-8747 / CVE-2025-9906: gadgets inside keras itself, one of them switching safe mode off; a path
traversal through archive members fixed in Keras 3.14). So edgekit reads the archive itself first and accepts only:

- members config.json, metadata.json, model.weights.h5|npz and assets/..., with relative names (no `..`, no absolute
  path, no backslash, no symlink), a bounded count and bounded, plausible sizes (no zip bombs);
- objects in config.json from an allow-list: the layers, initializers, regularizers and constraints Keras itself
  ships (resolved in keras' public namespaces, so only real classes pass), Functional/Sequential, dtype policies,
  edgekit's registered custom layers and activations, the keras.ops operations a functional graph records and the
  layers keras.applications defines (both enumerated from Keras' own modules, see keras_src_classes); never Lambda
  or a class that runs foreign code or loads files (TorchModuleWrapper, JaxLayer, FlaxLayer, TFSMLayer, keras.ops'
  control flow), never a module outside keras/edgekit.

Only then does Keras load the file, still in safe mode, and only with a Keras at or above SECURITY_FLOORS.
"""

from __future__ import annotations

import json
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path, PurePosixPath
from typing import Any

from edgekit.errors import EdgekitError, UsageError

# The oldest release of each loader with the published fixes (pyproject.toml's pins must stay at or above these;
# tests/test_hardening.py checks both the pins and what is installed).
SECURITY_FLOORS = {
    "keras": "3.14.0",  # CVE-2025-1550 (3.9), CVE-2025-8747 / CVE-2025-9906 (3.11), archive member traversal (3.14)
    "onnx": "1.17.0",  # CVE-2024-27318 / CVE-2024-5187: external-data and tar paths outside the model folder
}
MAX_MEMBERS = 10_000
MAX_CONFIG_BYTES = 64 << 20
MAX_TOTAL_BYTES = 16 << 30  # larger than any image classifier edgekit targets, by far
MAX_RATIO = 200  # uncompressed / compressed: weights compress ~1.1x; a bomb compresses 1000x
MAX_DEPTH = 200
TOP_LEVEL = {"config.json", "metadata.json", "model.weights.h5", "model.weights.npz"}
DENIED_LAYERS = {"Lambda", "TorchModuleWrapper", "JaxLayer", "FlaxLayer", "TFSMLayer"}
KERAS_NAMESPACES = {  # module written in config.json -> the public keras namespace whose classes it may name
    "keras.layers": "layers",
    "keras.initializers": "initializers",
    "keras.regularizers": "regularizers",
    "keras.constraints": "constraints",
    # A model saved after model.compile() records its optimizer, losses and metrics: Keras' own classes, no code.
    "keras.optimizers": "optimizers",
    "keras.optimizers.schedules": "optimizers.schedules",
    "keras.losses": "losses",
    "keras.metrics": "metrics",
}
MODEL_CLASSES = {
    "keras": {
        "DTypePolicy",
        "FloatDTypePolicy",
        "QuantizedDTypePolicy",
        "QuantizedFloat8DTypePolicy",
        "Model",
        "Sequential",
        "Functional",
    },
    "keras.models": {"Model", "Sequential", "Functional"},
    "keras.src.models.functional": {"Functional"},
    "keras.src.models.sequential": {"Sequential"},
    "keras.src.models.model": {"Model"},
}
# Stock models name some classes by their keras.src module: `x + 3` in MobileNetV3's graph is recorded as
# keras.src.ops.numpy.Add, ConvNeXt's LayerScale as keras.src.applications.convnext.LayerScale (keras.applications
# registers nothing in keras.saving's registry: Keras imports the named module and takes any KerasSaveable class in
# it). edgekit never trusts a module prefix: it accepts only the modules that define keras.ops' public functions and
# keras.applications' public constructors, and in them only the classes each module defines itself, of this base
# (so an imported name such as `Layer` or `Functional` in the module does not pass), less DENIED_KERAS_CLASSES.
KERAS_SRC_SOURCES = {  # public namespace -> the base class its modules' accepted classes derive from
    "ops": "keras.src.ops.operation.Operation",
    "applications": "keras.src.layers.layer.Layer",
}
DENIED_KERAS_CLASSES = {  # in the modules above, never accepted: each runs a Python callable
    "Map": "ops.map: calls a Python function given as its argument",
    "Scan": "ops.scan: calls a Python function given as its argument",
    "AssociativeScan": "ops.associative_scan: calls a Python function given as its argument",
    "Switch": "ops.switch: calls the Python branch functions it is given",
    "Cond": "ops.cond: calls the Python branch functions it is given",
    "WhileLoop": "ops.while_loop: cond and body are Python callables in its config",
    "ForiLoop": "ops.fori_loop: body_fun is a Python callable in its config",
    "VectorizedMap": "ops.vectorized_map: function is a Python callable in its config",
    "JVP": "ops.jvp (linalg): calls the Python function given as its argument",
}
# And, for ops a later Keras adds: a class whose constructor or call takes an argument of one of these names takes a
# Python callable, and is refused even before it is added to DENIED_KERAS_CLASSES.
CALLABLE_PARAMS = {"f", "fn", "fun", "func", "function", "body", "body_fun", "cond", "true_fn", "false_fn", "branches"}
# Never accepted, whatever a future Keras exports from them (the classes are reached only through the two public
# namespaces above; this list names the keras modules known to hand out code execution, so they stay out).
DENIED_KERAS_MODULES = {
    "keras.src.saving": "deserialization helpers; CVE-2025-9906 switched safe mode off through them",
    "keras.src.utils": "get_file (CVE-2025-8747 fetched and unpacked files during loading), TorchModuleWrapper "
    "(unpickles a torch module), JaxLayer/FlaxLayer (call foreign functions)",
    "keras.src.layers.core.lambda_layer": "Lambda: Python bytecode in the config",
    "keras.src.export": "TFSMLayer: loads and runs a TensorFlow SavedModel from a path in the config",
    "keras.src.backend": "backend internals (variables, tensors, each backend's helpers): no modeling class",
    "keras.src.legacy": "Keras 2 loaders (HDF5/SavedModel configs with their own lambda handling)",
}
VALUE_MARKERS = {"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__"}  # plain data, no module
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _parse_version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def check_floor(package: str) -> None:
    """Refuse to load untrusted files with a loader older than its security floor."""
    try:
        installed = version(package)
    except PackageNotFoundError:
        return  # require() names the missing extra when the loader is actually needed
    if _parse_version(installed) < _parse_version(SECURITY_FLOORS[package]):
        raise EdgekitError(
            f"{package} {installed} has known code-execution fixes missing; edgekit loads untrusted files only with "
            f"{package} >= {SECURITY_FLOORS[package]}: pip install -U '{package}>={SECURITY_FLOORS[package]}'"
        )


def _refuse(path: Path, why: str) -> UsageError:
    return UsageError(f"refusing to load {path.name} (checked before Keras safe mode): {why}")


def check_members(path: Path, archive: zipfile.ZipFile) -> None:
    """Archive-level checks: names, links, counts, sizes."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise _refuse(path, f"{len(infos)} archive members (at most {MAX_MEMBERS})")
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename
        parts = PurePosixPath(name).parts
        escapes = name.startswith("/") or ".." in parts or re.match(r"^\w:", name)
        if not name or "\\" in name or "\x00" in name or escapes:
            raise _refuse(path, f"archive member {name!r} points outside the archive")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise _refuse(path, f"archive member {name!r} is a symbolic link")
        if name in seen:
            raise _refuse(path, f"archive member {name!r} appears twice")
        seen.add(name)
        if name not in TOP_LEVEL and parts[0] != "assets":
            raise _refuse(path, f"unexpected archive member {name!r} (a .keras file holds config, metadata, weights)")
        total += info.file_size
        if info.file_size > (1 << 20) and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise _refuse(path, f"archive member {name!r} expands {info.file_size // max(info.compress_size, 1)}x")
    if total > MAX_TOTAL_BYTES:
        raise _refuse(path, f"archive expands to {total / 2**30:.1f} GiB")
    if "config.json" not in seen:
        raise _refuse(path, "no config.json in the archive (not a Keras 3 .keras file)")
    if archive.getinfo("config.json").file_size > MAX_CONFIG_BYTES:
        raise _refuse(path, "config.json is implausibly large")


def _walk(node: Any, where: str = "config", depth: int = 0) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object (dict with a class_name) in the config, with a readable location."""
    if depth > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels at {where}")
    if isinstance(node, dict):
        if "class_name" in node:
            yield where, node
        for key, value in node.items():
            yield from _walk(value, f"{where}.{key}", depth + 1)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{where}[{i}]", depth + 1)


def _allowed_names() -> dict[str, set[str]]:
    """Class names per keras namespace: real classes of keras' public API (Lambda and foreign loaders removed)."""
    import keras

    from edgekit.models.blocks import custom_objects

    allowed: dict[str, set[str]] = {}
    for module, attr in KERAS_NAMESPACES.items():
        namespace = keras
        for part in attr.split("."):
            namespace = getattr(namespace, part)
        allowed[module] = {n for n in dir(namespace) if isinstance(getattr(namespace, n, None), type)}
    allowed["keras.layers"] -= DENIED_LAYERS
    custom = custom_objects()  # {"edgekit>ClassToken": class, "edgekit>gelu": function, ...}
    allowed["edgekit.classes"] = {n for n, obj in custom.items() if isinstance(obj, type)}
    allowed["edgekit.functions"] = {n for n, obj in custom.items() if not isinstance(obj, type)}
    allowed.update(keras_src_classes())
    return allowed


def _denied_module(module: str) -> str | None:
    for prefix, why in DENIED_KERAS_MODULES.items():
        if module == prefix or module.startswith(prefix + "."):
            return why
    return None


def keras_src_classes() -> dict[str, set[str]]:
    """{keras.src module: class names} a config may name by module (see KERAS_SRC_SOURCES)."""
    import importlib
    import inspect

    import keras

    found: dict[str, set[str]] = {}
    for namespace, base_path in KERAS_SRC_SOURCES.items():
        base_module, base_name = base_path.rsplit(".", 1)
        base = getattr(importlib.import_module(base_module), base_name)
        modules = _defining_modules(getattr(keras, namespace))
        for name in sorted(modules):
            if _denied_module(name):
                continue
            module = importlib.import_module(name)
            found[name] = {
                cls_name
                for cls_name, cls in vars(module).items()
                if inspect.isclass(cls)
                and issubclass(cls, base)
                and cls.__module__ == name
                and cls_name not in DENIED_KERAS_CLASSES
                and not takes_callable(cls)
            }
    return found


def takes_callable(cls: type) -> bool:
    import inspect

    for method in (cls.__init__, getattr(cls, "call", None)):
        try:
            params = inspect.signature(method).parameters
        except (TypeError, ValueError):
            continue
        if CALLABLE_PARAMS & set(params):
            return True
    return False


def _defining_modules(namespace) -> set[str]:
    """The keras.src modules that define a public namespace's functions (keras.ops, its nn/image/linalg/numpy
    sub-namespaces, keras.applications' constructors)."""
    import inspect

    modules: set[str] = set()
    for name in dir(namespace):
        obj = getattr(namespace, name, None)
        if inspect.ismodule(obj) and obj.__name__.startswith(namespace.__name__ + "."):
            modules |= _defining_modules(obj)
        elif inspect.isfunction(obj) and str(obj.__module__).startswith("keras.src."):
            modules.add(obj.__module__)
    return modules


def _activation_names() -> set[str]:
    import keras

    return {n for n in dir(keras.activations) if not n.startswith("_")}


def check_object(obj: dict[str, Any], allowed: dict[str, set[str]], activations: set[str]) -> str | None:
    """Why one serialized object is refused (None when it is allowed)."""
    module, name = obj.get("module"), obj.get("class_name")
    registered = obj.get("registered_name")
    if not isinstance(name, str) or not _IDENT.match(name):
        return f"class name {str(name)[:60]!r}"
    if name in DENIED_LAYERS or name == "__lambda__":
        return f"a {name} layer (it carries Python code)"
    if module is None:
        return None if name in VALUE_MARKERS or name in allowed["keras.layers"] else f"unknown object {name!r}"
    if not isinstance(module, str):
        return f"module {str(module)[:60]!r}"
    if module in KERAS_NAMESPACES:
        ok = name in allowed[module] and registered in (None, name)
        return None if ok else f"{module}.{name} is not a Keras class edgekit accepts"
    if module in MODEL_CLASSES:
        return None if name in MODEL_CLASSES[module] else f"{module}.{name} is not a model class"
    if module == "builtins" and name == "function":  # an activation function, by name
        fn = obj.get("config")
        ok = isinstance(fn, str) and (fn in activations or fn in allowed["edgekit.functions"])
        return None if ok else f"function {str(fn)[:60]!r} (only Keras' and edgekit's activations)"
    if module.startswith("keras.src."):
        return _check_keras_src(module, name, registered, allowed)
    if module == "edgekit.models.blocks":
        return None if registered in allowed["edgekit.classes"] else f"edgekit object {registered or name!r}"
    return f"{module}.{name} from module {module!r} (only keras and edgekit objects are loaded)"


def _check_keras_src(module: str, name: str, registered: Any, allowed: dict[str, set[str]]) -> str | None:
    """A class named by its keras.src module: a keras.ops operation or a keras.applications layer."""
    denied = _denied_module(module)
    if denied:
        return f"{module}.{name} ({denied})"
    if name in DENIED_KERAS_CLASSES:
        return f"{module}.{name} ({DENIED_KERAS_CLASSES[name]})"
    if registered not in (None, name):  # Keras would load the registered object instead of the class named
        return f"{module}.{name} registered as {str(registered)[:60]!r}"
    if module in allowed and name in allowed[module]:
        return None
    return f"{module}.{name} is not a keras.ops operation or keras.applications layer"


def check_config(path: Path, text: bytes) -> None:
    try:
        config = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _refuse(path, f"config.json is not JSON ({exc})") from exc
    if "enable_unsafe_deserialization" in text.decode("utf-8", "replace"):
        raise _refuse(path, "its config asks to turn Keras safe mode off")
    allowed, activations = _allowed_names(), _activation_names()
    try:
        for where, obj in _walk(config):
            why = check_object(obj, allowed, activations)
            if why:
                raise _refuse(path, f"{why} at {where[:120]}")
    except ValueError as exc:
        raise _refuse(path, str(exc)) from exc


def check_keras_file(path: Path, config: bool = True) -> None:
    """Raise UsageError unless path is a .keras archive with only known, code-free objects; config=False checks the
    archive alone (loading weights only never deserialises the config)."""
    path = Path(path)
    check_floor("keras")
    try:
        with zipfile.ZipFile(path) as archive:
            check_members(path, archive)
            if config:
                check_config(path, archive.read("config.json"))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise _refuse(path, f"not a .keras (zip) archive ({exc})") from exc
    except OSError as exc:
        raise _refuse(path, f"cannot read it ({exc.strerror or exc})") from exc


_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+-]{0,127}$")


def check_name(name: str, what: str = "model name") -> str:
    """A name that becomes a folder or file name: letters, digits and . _ + - only, not starting with a dot or dash
    (no `..`, no `/`, no shell metacharacters, no newlines, nothing an option parser could take for an option)."""
    if not isinstance(name, str) or not _SAFE_NAME.match(name) or ".." in name:
        raise UsageError(
            f"{what} {str(name)[:80]!r} is not usable in a file name: use letters, digits and . _ + - "
            "(not starting with . or -, no ..)"
        )
    return name


def check_folder(path: Path | str, what: str = "folder") -> Path:
    """A folder the user chose is used as given (never through a shell), but not with control characters in it: a
    newline in a path breaks every log line, table and manifest that names it."""
    text = str(path)
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise UsageError(f"{what} {text[:120]!r} contains a control character (newline, tab, ...): choose another")
    return Path(path)
