"""The registry of target kinds: a kind is one module of edgekit.costmodel declaring KIND (the `kind` of its target
files). The target schema accepts exactly these kinds, and everything that differs by kind asks its module.

A kind module provides:
- KIND: str, and predict(graph, target, request) -> dict (see edgekit.costmodel.predict for the keys);
and, where the defaults below do not fit it:
- fit_constants(rows, target) (none: the target files' constants stand);
- ACCELERATOR (False): whether its targets carry [accelerator] and [accelerator_cost] tables;
- PER_RUNTIME (False): whether it runs each format with that format's runtime (ONNX Runtime for .onnx on a CPU) and
  keeps one fitted cell per runtime and precision;
- ARTIFACT_FORMAT (None): the format its results are filed as and the one to export for it (else the graph's own);
- LABEL: how messages name it; LINK_MBS (None): the host links a prediction may assume, by name;
- CONSTANTS_TRANSFER (False): whether its fitted constants hold for every target of the kind (one chip);
- DELEGATE (None): the device runner's --delegate over --host; REMOTE_REFUSAL (None): why --host cannot measure it;
- measure_here(path, req, target) (None: the host runners of edgekit.measure.host measure it on this machine);
- artifact_sources(path), apply_constants(target, constants, runtime, precision), fitted_cell(constants, runtime,
  precision), with_bands(constants, target, band), utilisation(target, busy, threads): the defaults are the
  functions of the same name in this module.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from edgekit.errors import UsageError
from edgekit.hardware.kinds import accelerator_kinds, kind_modules, kind_names  # noqa: F401 (re-exported)
from edgekit.hardware.targets import Target


def kind_module(kind: str) -> ModuleType:
    module = kind_modules().get(kind)
    if module is None:
        known = ", ".join(kind_names())
        raise UsageError(f"target kind {kind!r} has no cost model in edgekit.costmodel (kinds: {known})")
    return module


def hook(kind: str | Target, name: str) -> Any:
    """The kind module's attribute `name`, else the default of this module."""
    module = kind_module(kind.kind if isinstance(kind, Target) else kind)
    return getattr(module, name, DEFAULTS[name])


# ---------------------------------------------------------------------------------------------------------------------
# Defaults


def artifact_sources(path: Path) -> tuple[Path, dict[str, Any] | None]:
    """The file to predict from and a compiler log beside it (none by default)."""
    return path, None


def fit_constants(rows: list[Any], target: Target) -> dict[str, Any]:
    """Nothing fitted: the target files' constants stand."""
    return {}


def apply_constants(target: Target, constants: dict[str, Any], runtime: str, precision: str) -> Target:
    return target


def fitted_cell(constants: dict[str, Any], runtime: str, precision: str) -> dict[str, Any] | None:
    """What a target's fitted constants rest on for one runtime and precision: rows, carried_over_from and band_log
    (None when nothing was fitted for it)."""
    if not constants.get("accelerator"):
        return None
    return {"rows": constants.get("rows", []), "carried_over_from": constants.get("carried_over_from"),
            "band_log": constants.get("band_log")}  # fmt: skip


def with_bands(constants: dict[str, Any], target: Target, band: Callable[[str | None], float]) -> dict[str, Any]:
    """The constants with their band (band(runtime): log half-width from that runtime's leave-one-out errors)."""
    return {**constants, "band_log": band(target.runtime.name)}


def utilisation(target: Target, busy: dict[str, float], threads: int) -> float:
    """Share of the powered unit's active draw a back-to-back inference uses."""
    return busy.get("accelerator", 0.0)


DEFAULTS: dict[str, Any] = {
    "ACCELERATOR": False,
    "PER_RUNTIME": False,
    "ARTIFACT_FORMAT": None,
    "LABEL": None,
    "LINK_MBS": None,
    "CONSTANTS_TRANSFER": False,
    "DELEGATE": None,
    "REMOTE_REFUSAL": None,
    "artifact_sources": artifact_sources,
    "fit_constants": fit_constants,
    "apply_constants": apply_constants,
    "fitted_cell": fitted_cell,
    "with_bands": with_bands,
    "utilisation": utilisation,
    "measure_here": None,  # None: the host runners (edgekit.measure.host) measure it
}


def fitted_target(target: Target, constants: dict[str, Any] | None, runtime: str, precision: str) -> Target:
    """The target with fitted constants applied for one runtime and precision (the file's values otherwise)."""
    if not constants:
        return target
    return hook(target, "apply_constants")(target, constants, runtime, precision)
