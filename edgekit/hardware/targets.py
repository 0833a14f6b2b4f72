"""Targets: the hardware facts and fitted cost-model constants of each device, one TOML file per target.

Every file in targets/ is validated against the frozen dataclasses below: unknown keys are rejected, a missing or
mistyped field is a UsageError naming the file and the field, and every hardware fact carries its source.
A value "auto" (host.toml) is read from this machine at load time by edgekit.hardware.host (os.cpu_count, /proc/cpuinfo,
sysfs), which also tells whether this machine is a target. Format names come from the formats table
(edgekit.exporting.formats); kinds from the cost-model modules that declare one (edgekit.costmodel.kinds), so a new
kind is one module there.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from edgekit.errors import UsageError, did_you_mean
from edgekit.hardware import host as hostinfo
from edgekit.hardware.host import FEATURES, detect_cpu
from edgekit.hardware.kinds import accelerator_kinds, kind_names

PRECISIONS = ("fp32", "fp16", "dynamic", "int8")
REACH = ("local", "ssh")
LINKS = ("usb2", "usb3", "pcie", "soc")
OP_CLASSES = ("conv", "pointwise", "depthwise", "fc", "matmul")
DETECT_RE = re.compile(r"^(always|device-tree:.+|edgetpu-usb|edgetpu-pcie|openvino:NPU(:.+)?)$")


# ---------------------------------------------------------------------------------------------------------------------
# Schema


@dataclass(frozen=True)
class Efficiency:
    """Fraction of the peak MAC rate each op class reaches (roofline compute term)."""

    conv: float  # k x k convolutions (im2col / indirect GEMM)
    pointwise: float  # 1x1 convolutions (plain GEMM)
    depthwise: float  # one filter per channel: little reuse, far from peak everywhere
    fc: float  # fully connected at batch 1 (GEMV; usually bandwidth-bound anyway)
    matmul: float  # batch-matmul / attention

    def of(self, op_class: str) -> float:
        return getattr(self, op_class)


@dataclass(frozen=True)
class CpuSpec:
    model: str
    cores: int
    clock_ghz: float
    isa: str
    features: list[str]
    l1d_kib: int
    l2_kib: int
    l3_kib: int
    memory: str
    memory_bandwidth_gbs: float  # sustained (STREAM-like) where known, else the spec's peak
    fp32_macs_per_cycle: int  # per core, SIMD peak
    int8_macs_per_cycle: int  # per core, SIMD peak with the ISA's best int8 instruction
    sources: dict[str, str]


@dataclass(frozen=True)
class AcceleratorSpec:
    name: str
    kind: str  # edgetpu | npu
    peak_int8_tops: float
    peak_fp16_tops: float  # 0: no FP16 path
    on_chip_memory_mib: float
    param_cache_mib: float  # usable for caching weights (0: no such cache)
    link: str  # usb2 | usb3 | pcie | soc
    link_bandwidth_mbs: float  # host <-> accelerator payload bandwidth of the link (MB/s)
    sources: dict[str, str]
    memory_bandwidth_gbs: float | None = None  # DRAM bandwidth the accelerator reads from (None: on-chip only)


@dataclass(frozen=True)
class PowerSpec:
    active_w: float  # with the compute unit fully busy
    scope: str  # what the figures cover (board at the wall, rails, accelerator only)
    sources: dict[str, str]
    idle_w: float | None = None  # None: unknown; power then covers dynamic power only (said in the basis)


@dataclass(frozen=True)
class RuntimeSpec:
    name: str
    version: str  # the runtime version the cost constants were fitted for
    device: str
    formats: list[str]
    precisions: list[str]
    default_threads: int


@dataclass(frozen=True)
class CpuCost:
    """Fitted constants of the CPU roofline (see the 'fitted' note in each file)."""

    fp32_efficiency: Efficiency
    int8_efficiency: Efficiency
    bandwidth_efficiency: float  # fraction of memory_bandwidth_gbs reached by streaming ops
    op_overhead_us: float  # fixed cost per op (dispatch, thread sync)
    invoke_overhead_us: float  # fixed cost per inference
    parallel_fraction: float  # Amdahl: share of the single-thread time that scales with threads
    fitted: str
    # Cycles per executed aarch64 instruction of LiteRT's kernels, to turn emulated instruction counts into time
    # (see edgekit.costmodel.predict.predict_from_instructions); absent where no row fits them.
    int8_cycles_per_instruction: float | None = None
    fp32_cycles_per_instruction: float | None = None
    # Effective over reported clock: a VM without cpufreq reports its base clock while the cores boost above it.
    clock_scale: float = 1.0


@dataclass(frozen=True)
class AcceleratorCost:
    efficiency: Efficiency
    op_overhead_us: float  # per mapped op (instruction issue, activation hand-over)
    invoke_overhead_us: float  # per inference: driver, synchronisation, input quantize / output copy
    link_efficiency: float  # fraction of link_bandwidth_mbs reached by input/output transfers and streaming
    fitted: str


@dataclass(frozen=True)
class EmulateSpec:
    """How `profile --emulate` runs this target's CPU under QEMU user mode."""

    qemu_cpu: str  # QEMU's -cpu name (cortex-a72), which also picks the /proc/cpuinfo served to the guest


@dataclass(frozen=True)
class Target:
    id: str
    name: str
    kind: str
    reach: str
    detect: list[str]
    uncertainty: float  # the predicted band is [median / u, median * u]
    cpu: CpuSpec
    cpu_cost: CpuCost
    runtime: RuntimeSpec
    description: str = ""
    power: PowerSpec | None = None
    accelerator: AcceleratorSpec | None = None
    accelerator_cost: AcceleratorCost | None = None
    emulate: EmulateSpec | None = None
    file: str = field(default="", compare=False)

    def is_this_machine(self) -> bool:
        """Whether this process runs on (or can reach locally) this target; checked lazily, never cached."""
        return all(hostinfo.detect(rule) for rule in self.detect)

    @property
    def formats(self) -> tuple[str, ...]:
        return tuple(self.runtime.formats)

    @property
    def default_precision(self) -> str:
        """What `edgekit profile --target X` exports when no precision is asked for."""
        float_first = self.accelerator is None  # the CPU computes in float; accelerators in their narrowest type
        return "fp32" if float_first and "fp32" in self.runtime.precisions else self.runtime.precisions[-1]

    def runs(self, fmt: str, precision: str | None = None) -> bool:
        return fmt in self.runtime.formats and (precision is None or precision in self.runtime.precisions)

    def summary(self) -> dict[str, Any]:
        acc = self.accelerator
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "cpu": f"{self.cpu.cores}x {self.cpu.model} @ {self.cpu.clock_ghz:g} GHz",
            "features": list(self.cpu.features),
            "accelerator": None if acc is None else acc.name,
            "peak_int8_tops": None if acc is None else acc.peak_int8_tops,
            "link": None if acc is None else acc.link,
            "runtime": self.runtime.name,
            "formats": list(self.runtime.formats),
            "precisions": list(self.runtime.precisions),
            "reach": self.reach,
            "power_idle_w": None if self.power is None else self.power.idle_w,
            "power_active_w": None if self.power is None else self.power.active_w,
        }


def target_kinds() -> tuple[str, ...]:
    """The kinds some cost-model module declares (KIND), read when a file is checked."""
    return kind_names()


def _format_names() -> tuple[str, ...]:
    from edgekit.exporting.formats import (
        format_names,  # read when a file is checked: a format added to the table counts
    )

    return format_names()


# Fields whose presence must be backed by a source (facts, not fitted constants).
_SOURCED = (CpuSpec, AcceleratorSpec, PowerSpec)
_CHOICES: dict[tuple[type, str], tuple[str, ...] | Callable[[], tuple[str, ...]]] = {
    (Target, "kind"): target_kinds,
    (Target, "reach"): REACH,
    (AcceleratorSpec, "kind"): accelerator_kinds,
    (AcceleratorSpec, "link"): LINKS,
    (RuntimeSpec, "formats"): _format_names,
    (RuntimeSpec, "precisions"): PRECISIONS,
    (CpuSpec, "features"): FEATURES,
}


class _SchemaError(Exception):
    def __init__(self, field_path: str, problem: str):
        super().__init__(f"{field_path}: {problem}")
        self.field_path = field_path
        self.problem = problem


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"a table of {_type_name(typing.get_args(tp)[1])}"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false"}.get(tp, str(tp))


def _convert(tp: Any, value: Any, path: str) -> Any:
    """Check value against the type hint tp; return the typed value or raise _SchemaError."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)][0]
        return _convert(inner, value, path)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _SchemaError(path, f"must be {_type_name(tp)}, got {type(value).__name__}")
        return _build(tp, value, path + ".")
    if origin is list:
        if not isinstance(value, list):
            raise _SchemaError(path, f"must be {_type_name(tp)}, got {type(value).__name__}")
        (item,) = typing.get_args(tp)
        return [_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _SchemaError(path, f"must be {_type_name(tp)}, got {type(value).__name__}")
        _, item = typing.get_args(tp)
        return {str(k): _convert(item, v, f"{path}.{k}") for k, v in value.items()}
    ok = (
        isinstance(value, bool)
        if tp is bool
        else isinstance(value, (int, float)) and not isinstance(value, bool)
        if tp is float
        else isinstance(value, tp) and not isinstance(value, bool)
    )
    if not ok:
        raise _SchemaError(path, f"must be {_type_name(tp)}, got {type(value).__name__} {value!r}")
    return float(value) if tp is float else value


def _build(cls: type, data: dict[str, Any], prefix: str = ""):
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "file"}
    for key in data:
        if key not in fields:
            raise _SchemaError(prefix + key, f"unknown key (known: {', '.join(fields)})")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        path = prefix + name
        if name not in data:
            optional = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            if not optional:
                raise _SchemaError(path, "missing")
            continue
        value = _convert(hints[name], data[name], path)
        choices = _CHOICES.get((cls, name))
        if callable(choices):
            choices = choices()
        if choices:
            for v in value if isinstance(value, list) else [value]:
                if v not in choices:
                    raise _SchemaError(path, f"{v!r} is not one of {', '.join(choices)}")
        kwargs[name] = value
    obj = cls(**kwargs)
    _check_values(obj, prefix)
    return obj


def _check_values(obj: Any, prefix: str) -> None:
    if isinstance(obj, _SOURCED):
        facts = {f.name for f in dataclasses.fields(obj)} - {"sources", "scope", "name", "kind"}
        covered: set[str] = set()
        for key in obj.sources:
            for name in (k.strip() for k in key.split(",")):
                if name not in facts:
                    raise _SchemaError(f"{prefix}sources.{key}", f"names no field of this table ({name!r})")
                covered.add(name)
        present = {n for n in facts if getattr(obj, n) is not None}
        if present - covered:
            raise _SchemaError(f"{prefix}sources", f"no source for {', '.join(sorted(present - covered))}")
    if isinstance(obj, Efficiency):
        for name in OP_CLASSES:
            if not 0 < obj.of(name) <= 1:
                raise _SchemaError(prefix + name, "must be in (0, 1]")
    if isinstance(obj, CpuCost) and not 0 <= obj.parallel_fraction <= 1:
        raise _SchemaError(prefix + "parallel_fraction", "must be in [0, 1]")
    if isinstance(obj, CpuCost):
        for name in ("int8_cycles_per_instruction", "fp32_cycles_per_instruction", "clock_scale"):
            if getattr(obj, name) is not None and getattr(obj, name) <= 0:
                raise _SchemaError(prefix + name, "must be > 0")
    if isinstance(obj, Target):
        for rule in obj.detect:
            if not DETECT_RE.match(rule):
                raise _SchemaError("detect", f"unknown rule {rule!r}")
        needs = obj.kind in accelerator_kinds()
        if needs != (obj.accelerator is not None):
            raise _SchemaError(
                "accelerator", f"a target of kind {obj.kind!r} {'needs' if needs else 'has no'} accelerator table"
            )
        if obj.accelerator is not None and obj.accelerator_cost is None:
            raise _SchemaError("accelerator_cost", "missing (an accelerator needs its cost constants)")
        if obj.uncertainty < 1:
            raise _SchemaError("uncertainty", "must be >= 1")


def parse_target(data: dict[str, Any], file: str, expected_id: str | None = None) -> Target:
    """Validate one target table; errors name the file and the field."""
    data = dict(data)
    if isinstance(data.get("cpu"), dict):
        data["cpu"] = _resolve_auto(data["cpu"])
    try:
        target = _build(Target, data)
    except _SchemaError as exc:
        raise UsageError(f"{file}: field '{exc.field_path}' {exc.problem}") from None
    if expected_id is not None and target.id != expected_id:
        raise UsageError(f"{file}: field 'id' is {target.id!r} but the file is named {expected_id}.toml")
    return dataclasses.replace(target, file=file)


# ---------------------------------------------------------------------------------------------------------------------
# Loading


def targets_dir() -> Path:
    """EDGEKIT_TARGETS_DIR, else the copy a wheel ships (edgekit/targets/), else the source tree's targets/."""
    env = os.environ.get("EDGEKIT_TARGETS_DIR")
    if env:
        return Path(env)
    package = Path(__file__).resolve().parent.parent  # edgekit/
    shipped = package / "targets"
    return shipped if shipped.is_dir() else package.parent / "targets"


def read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None


def load_targets(dir: Path | None = None) -> dict[str, Target]:
    """Every targets/*.toml, validated, by id (sorted)."""
    folder = Path(dir) if dir is not None else targets_dir()
    if not folder.is_dir():
        raise UsageError(f"targets folder {folder} does not exist (set EDGEKIT_TARGETS_DIR)")
    out: dict[str, Target] = {}
    for path in sorted(folder.glob("*.toml")):
        out[path.stem] = parse_target(read_toml(path), str(path), expected_id=path.stem)
    return out


@lru_cache(maxsize=8)
def _cached_targets(folder: str) -> dict[str, Target]:
    return load_targets(Path(folder))


def get_target(id: str) -> Target:
    targets = _cached_targets(str(targets_dir()))
    if id not in targets:
        raise did_you_mean("target", id, targets)
    return targets[id]


TARGET_COLUMNS = ("id", "cpu", "accelerator", "runtime", "formats", "precisions", "reach", "this machine")


def target_records(dir: Path | None = None, detect: bool = True) -> list[dict[str, Any]]:
    """One summary dict per target (this_machine: whether edgekit runs on it now; None when not checked)."""
    records = []
    for target in load_targets(dir).values():
        rec = target.summary()
        rec["this_machine"] = target.is_this_machine() if detect else None
        records.append(rec)
    return records


def target_rows(
    dir: Path | None = None, detect: bool = True
) -> tuple[list[str], list[list[Any]], list[dict[str, Any]]]:
    """(columns, table rows, JSON records) for `edgekit targets [--json]`."""
    records = target_records(dir, detect)
    rows = []
    for r in records:
        acc = "" if r["accelerator"] is None else f"{r['accelerator']} ({r['peak_int8_tops']:g} TOPS, {r['link']})"
        mark = {True: "yes", False: "no", None: "?"}[r["this_machine"]]
        rows.append([r["id"], r["cpu"], acc, r["runtime"], ",".join(r["formats"]),
                     ",".join(r["precisions"]), r["reach"], mark])  # fmt: skip
    return list(TARGET_COLUMNS), rows, records


# ---------------------------------------------------------------------------------------------------------------------
# Facts read at run time ("auto"; edgekit.hardware.host reads them)


def _resolve_auto(cpu: dict[str, Any]) -> dict[str, Any]:
    """Replace "auto" values with facts read from this machine; their source says so."""
    autos = [k for k, v in cpu.items() if v == "auto"]
    if not autos:
        return cpu
    detected = detect_cpu()
    out = dict(cpu)
    sources = dict(out.get("sources", {}))
    for key in autos:
        if key not in detected:
            continue  # left as "auto": the schema rejects it with the field's name
        value, source = detected[key]
        out[key] = value
        sources[key] = f"read at run time: {source}"
    out["sources"] = sources
    return out
