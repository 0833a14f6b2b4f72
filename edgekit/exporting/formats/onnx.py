"""Keras -> ONNX (tf2onnx through keras' exporter); INT8 as QDQ with per-channel weights (onnxruntime.quantization)."""

from __future__ import annotations

import contextlib
import gc
import os
import platform
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.analyze.readers import onnx as onnx_reader
from edgekit.errors import EdgekitError
from edgekit.exporting.base import ExportFormat, ExportJob, LoadedArtifact, open_artifact
from edgekit.procfs import cpuinfo, cpuinfo_field
from edgekit.quiet import quiet_tf

OPSET = 17


def cpu_flags() -> set[str]:
    return set((cpuinfo_field(cpuinfo(), "flags", "Features") or "").split())


def int8_settings(machine: str | None = None, flags: set[str] | None = None) -> dict[str, Any]:
    """The activation/weight types that are fast on this CPU (see benchmarks/int8_speed.py for the evidence).

    x86: unsigned activations with signed weights (U8S8) is ONNX Runtime's fast path; S8S8 falls back to slower
    kernels. Without VNNI, 7-bit weights (reduce_range) avoid the saturation of the u8*s8 pair-add (vpmaddubsw).
    ARM: S8S8 maps onto SDOT/SMMLA.
    """
    machine = (machine or platform.machine()).lower()
    flags = cpu_flags() if flags is None else flags
    if machine in ("x86_64", "amd64", "i686"):
        vnni = bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})
        return {
            "activation_type": "QUInt8",
            "weight_type": "QInt8",
            "reduce_range": not vnni,
            "reason": f"x86 {'with' if vnni else 'without'} VNNI: U8S8 is the fast path",
        }
    dot = "asimddp" in flags  # ARMv8.2 SDOT (Cortex-A76 and later; the A72 has none)
    return {
        "activation_type": "QInt8",
        "weight_type": "QInt8",
        "reduce_range": False,
        "reason": f"{machine}: S8S8, ONNX Runtime's signed int8 kernels on ARM"
        + (" (SDOT dot-product instructions on this CPU)" if dot else " (no dot-product instructions on this CPU)"),
    }


def settings_key(settings: dict[str, Any]) -> str:
    """u8s8 / u8s8-reduce-range / s8s8: the short name of an int8 setting (folder names and cache keys)."""
    pair = "u8s8" if settings.get("activation_type") == "QUInt8" else "s8s8"
    return pair + ("-reduce-range" if settings.get("reduce_range") else "")


def target_settings(target, precision: str) -> dict[str, Any] | None:
    """The int8 setting ONNX Runtime wants on a target's CPU, from its file's ISA and features (FP32: one model)."""
    if precision != "int8":
        return None
    features = set(target.cpu.features)
    arm = str(target.cpu.isa).lower().startswith(("arm", "aarch64")) or "neon" in features
    machine = "aarch64" if arm else "x86_64"
    named = {"vnni": "avx512_vnni", "amx": "amx_int8", "dotprod": "asimddp"}  # our vocabulary -> cpuinfo flags
    flags = {flag for feature, flag in named.items() if feature in features}
    settings = int8_settings(machine, flags)
    settings["reason"] = f"{target.cpu.model}: {settings['reason']}"
    return {"key": settings_key(settings), "cpu": target.cpu.model, **settings}


def recorded_setting(manifest: dict[str, Any]) -> str | None:
    quant = manifest.get("quantization")
    return settings_key(quant) if isinstance(quant, dict) and "activation_type" in quant else None


# Above this many bytes of float32 weights the TensorFlow side of the conversion runs without the weights in its
# graphs (see keras2onnx_lean): VGG16/19 and ViT-B; smaller models keep the well-trodden tf2onnx path.
LEAN_ABOVE_BYTES = 256 * 2**20


def keras2onnx(model, path: Path, lean: bool | None = None, batch: int | None = 1) -> Path:
    """Keras -> frozen TF graph (batch 1, or a symbolic "batch" with batch=None) -> tf2onnx.

    Freezing first turns every captured tensor into a constant: keras' own ONNX export leaves captured eager
    constants (EfficientNet's Normalization mean/variance) as extra graph inputs, and the model cannot run.
    """
    if lean is None:
        lean = model.count_params() * 4 > LEAN_ABOVE_BYTES
    if lean:
        return keras2onnx_lean(model, path, batch)
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    serve = _serving_function(model, batch)
    with quiet_tf():
        frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
        graph_def = frozen.graph.as_graph_def()
        inputs, outputs = [t.name for t in frozen.inputs], [t.name for t in frozen.outputs]
        del frozen, serve  # the graph_def is all tf2onnx needs: drop TensorFlow's copy of the weights
        graph_def_to_onnx(graph_def, inputs, outputs, path)
    return path


def _serving_function(model, batch: int | None = 1):
    import tensorflow as tf

    shape = (batch, *tuple(model.inputs[0].shape[1:]))
    return tf.function(lambda x: model(x, training=False), input_signature=[tf.TensorSpec(shape, tf.float32, "input")])


def keras2onnx_lean(model, path: Path, batch: int | None = 1) -> Path:
    """The same conversion with the weights kept out of TensorFlow's graphs (VGG19: 12 GB peak -> under 5 GB).

    Measured on VGG19 (575 MB of weights): convert_variables_to_constants_v2 peaked 5 GB above the model (it copies
    the constants into a new ConcreteFunction, and we copy them out again), and tf2onnx's Grappler pass 7 GB more
    (the meta graph is serialised and parsed back several times, weights included). Here the graph_def is taken
    from the freezing step without building a function, its weight tensors are moved out (tf2onnx's own
    compress_graph_def, the mechanism of its --large_model mode) and handed to tf2onnx by name, and Grappler runs
    without constant folding: zero-filled weights must not be folded. tf2onnx still folds every all-constant
    subgraph itself, from the real values (compute_const_folding_using_tf).
    """
    import gc

    import tensorflow as tf
    from tensorflow.python.framework import convert_to_constants
    from tf2onnx.convert import compress_graph_def

    with quiet_tf():
        func = _serving_function(model, batch).get_concrete_function()
        data = convert_to_constants._FunctionConverterDataInEager(  # noqa: SLF001 - the public API builds a function
            func=func, lower_control_flow=True, aggressive_inlining=False
        )
        graph_def, _ = convert_to_constants._replace_variables_by_constants(converter_data=data)
        inputs = [t.name for t in func.inputs if t.dtype != tf.resource]
        outputs = [t.name for t in func.outputs]
        del data, func
        values = compress_graph_def(graph_def)
        gc.collect()
        with tf.device("/cpu:0"):
            graph_def_to_onnx(graph_def, inputs, outputs, path, const_values=values)
    return path


def graph_def_to_onnx(
    graph_def, inputs: list[str], outputs: list[str], path: Path, const_values: dict[str, bytes] | None = None
) -> None:
    """tf2onnx with bounded memory (ResNet50: 7.2 GB -> see benchmarks/export_memory.py; VGG19 ran out at 24 GB).

    Two tf2onnx habits made memory grow with (weights x optimizer passes): every pass re-serialises each node's
    attributes into the same NodeProto, and upb (protobuf's C backend) frees a message's memory only with the
    whole message, so each pass left one more copy of every weight tensor behind; and with error catching on,
    each pass deep-copies the whole graph, freed only by a later cyclic GC. Passes now write into a fresh
    NodeProto and run without the deep copies; if a pass then fails, the conversion is retried the old way.
    With const_values, graph_def's large constants are empty and their bytes are in const_values (keras2onnx_lean).
    """
    import tf2onnx
    import tf2onnx.utils

    def convert() -> None:
        tf2onnx.utils.INTERNAL_NAME = 1  # tf2onnx numbers the names it makes process-wide: restart for identical files
        if const_values is not None:
            _convert_compressed(graph_def, const_values, inputs, outputs, path)
            return
        tf2onnx.convert.from_graph_def(
            graph_def, input_names=inputs, output_names=outputs, opset=OPSET, output_path=str(path)
        )

    with fresh_node_protos():
        try:
            with env_var("TF2ONNX_CATCH_ERRORS", "FALSE"):
                convert()
        except Exception:  # an optimizer pass failed: tf2onnx's default skips it (more memory, same result)
            gc.collect()
            with env_var("TF2ONNX_CATCH_ERRORS", "TRUE"):
                convert()
    from edgekit.exporting.canonical import canonicalize_onnx

    canonicalize_onnx(path)  # tf2onnx's made-up names and initializer order vary run to run: same model, same bytes


def _convert_compressed(graph_def, values: dict[str, bytes], inputs: list[str], outputs: list[str], path: Path) -> None:
    """tf2onnx's from_graph_def for a graph whose weights are in `values`: what it does, less the freezing (done)
    and Grappler's constant folding (it would fold zero-filled weights)."""
    import tensorflow as tf
    from tf2onnx import constants, optimizer, utils
    from tf2onnx.tfonnx import process_tf_graph

    optimized = _grappler(graph_def, inputs, outputs, ["function", "dependency"])
    _check_weights_kept(optimized, values)
    with tf.Graph().as_default() as tf_graph:
        tf.import_graph_def(optimized, name="")
        del optimized
        g = process_tf_graph(
            tf_graph,
            const_node_values=values,
            continue_on_error=True,
            opset=OPSET,
            input_names=inputs,
            output_names=outputs,
        )
        catch = os.environ.get(constants.ENV_TF2ONNX_CATCH_ERRORS, "TRUE").upper() == "TRUE"
        g = optimizer.optimize_graph(g, catch)
        model_proto = g.make_model("converted from graph_def")
        del g
    utils.save_protobuf(str(path), model_proto)


def _grappler(graph_def, inputs: list[str], outputs: list[str], optimizers: list[str]):
    """tf2onnx's tf_optimize_grappler with a chosen list of optimizers."""
    import tensorflow as tf
    from tensorflow.core.protobuf import config_pb2, meta_graph_pb2
    from tensorflow.python.grappler import tf_optimizer

    config = config_pb2.ConfigProto()
    config.graph_options.infer_shapes = True
    config.graph_options.rewrite_options.optimizers[:] = optimizers
    with tf.Graph().as_default():
        meta_graph = tf.compat.v1.train.export_meta_graph(graph_def=graph_def)
    fetch = meta_graph_pb2.CollectionDef()
    fetch.node_list.value.extend(inputs + outputs)
    meta_graph.collection_def["train_op"].CopyFrom(fetch)
    return tf_optimizer.OptimizeGraph(config, meta_graph)


def _check_weights_kept(graph_def, values: dict[str, bytes]) -> None:
    """Every emptied constant must still be there under its own name: tf2onnx finds its bytes by that name, and a
    renamed one would silently become zeros."""
    for node in graph_def.node:
        if node.op != "Const" or node.name in values:
            continue
        tensor = node.attr["value"].tensor
        elements = int(np.prod([d.size for d in tensor.tensor_shape.dim])) if tensor.tensor_shape.dim else 1
        has_data = any(f.name == "tensor_content" or f.name.endswith("_val") for f, _ in tensor.ListFields())
        if elements * 4 > 1000 and not has_data:
            raise EdgekitError(f"ONNX conversion (lean path): constant {node.name} lost its weights in Grappler")


@contextlib.contextmanager
def env_var(name: str, value: str) -> Iterator[None]:
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


@contextlib.contextmanager
def fresh_node_protos() -> Iterator[None]:
    """Make tf2onnx's Node.update_proto start from a new NodeProto (see graph_def_to_onnx for why)."""
    from onnx import NodeProto
    from tf2onnx.graph import Node

    original = Node.update_proto

    def update_proto(self, external_tensor_storage=None):
        if external_tensor_storage is None and const_unchanged(self):
            return  # its proto holds this very tensor: another copy per pass cost VGG19 30 s of 56
        old = self._op
        del old.attribute[:]  # update_proto rewrites them all; without this CopyFrom would copy the tensors
        fresh = NodeProto()
        fresh.CopyFrom(old)
        self._op = fresh  # the old message, and its arena with every earlier copy, is freed here
        original(self, external_tensor_storage)
        # what a Const's proto was written from (with external storage it holds a reference, not the tensor)
        const = external_tensor_storage is None and self.type == "Const"
        self._edgekit_synced = (tuple(self.output), dict(self._attr)) if const else None

    def const_unchanged(node) -> bool:
        """A Const whose output name and attribute objects are those its proto was last written from (tf2onnx
        replaces a Const's value with a new attribute, set_tensor_value, and never edits one in place)."""
        synced = node.__dict__.get("_edgekit_synced")
        if synced is None or node.type != "Const" or synced[0] != tuple(node.output):
            return False
        attrs = node._attr  # noqa: SLF001 - what update_proto itself reads
        return attrs.keys() == synced[1].keys() and all(attrs[k] is v for k, v in synced[1].items())

    Node.update_proto = update_proto
    try:
        yield
    finally:
        Node.update_proto = original


def quantize_onnx(
    src: Path, dst: Path, calib, work: Path, settings: dict[str, Any], keep_float: dict[str, Any] | None = None
) -> dict[str, Any]:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from edgekit.exporting.stagelog import stage

    pre = work / "onnx-preprocessed.onnx"
    stage("onnx int8: quant_pre_process (shape inference)")
    try:
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
    except Exception:  # pre-processing is an optimisation; quantize the plain graph if it fails
        shutil.copyfile(src, pre)
    input_name = _input_name(pre)
    from edgekit.exporting.keepfloat import onnx_nodes

    exclude = onnx_nodes(pre, keep_float) if keep_float else []  # --keep-float: these nodes get no QDQ
    stage(f"onnx int8: quantize_static (calibration on {len(calib)} images)")
    # MinMax calibration keeps only per-tensor ReduceMin/ReduceMax outputs per image, so memory does not grow with
    # --calib-size. CalibMaxIntermediateOutputs is not set: onnxruntime 1.32 drops the collected ranges at that
    # limit instead of merging them (calibrate.py, MinMaxCalibrater.collect_data).
    quantize_static(
        str(pre),
        str(dst),
        calib.onnx_reader(input_name),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        reduce_range=settings["reduce_range"],
        activation_type=getattr(QuantType, settings["activation_type"]),
        weight_type=getattr(QuantType, settings["weight_type"]),
        calibrate_method=CalibrationMethod.MinMax,
        nodes_to_exclude=exclude,
    )
    kept = {"kept_float_nodes": len(exclude)} if keep_float else {}
    return {"scheme": "QDQ", "per_channel": True, "calibrate_method": "MinMax", **settings, **kept}


def _input_name(path: Path) -> str:
    import onnx

    return onnx.load(str(path), load_external_data=False).graph.input[0].name


def convert(job: ExportJob) -> list[Path]:
    float_path = job.work_dir / "model-fp32.onnx"
    if not float_path.exists():
        keras2onnx(job.model, float_path, batch=None if job.dynamic_batch else 1)
    out = job.out_dir / "model.onnx"
    if job.precision == "fp32":
        shutil.copyfile(float_path, out)
    elif job.precision == "int8":
        settings = {k: v for k, v in (job.settings or int8_settings()).items() if k not in ("key", "cpu")}
        job.extra["quantization"] = quantize_onnx(float_path, out, job.calib, job.work_dir, settings, job.keep_float)
    else:
        raise EdgekitError(f"ONNX export has no {job.precision} path; use --fp32 or --int8")
    job.extra["opset"] = OPSET
    batch = 'any batch: symbolic first dimension "batch"' if job.dynamic_batch else "batch 1"
    job.extra["converter"] = f"tf2onnx from the frozen TF graph ({batch})"
    return [out]


class OnnxArtifact(LoadedArtifact):
    def __init__(self, path: Path, threads: int = 1):
        # the device runner's session: CPU provider, sequential, full graph optimisation
        self.model = open_artifact(path, "onnxruntime", threads)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.run([np.ascontiguousarray(x, np.float32)])[0], np.float32)


def io_details(path: Path) -> dict[str, Any]:
    import onnx

    g = onnx.load(str(path), load_external_data=False).graph

    def describe(v) -> dict[str, Any]:
        dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in v.type.tensor_type.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).name
        return {"name": v.name, "shape": dims, "dtype": dtype, "quantization": None}

    return {"input": describe(g.input[0]), "output": describe(g.output[0])}


FORMAT = ExportFormat(
    name="onnx",
    order=20,
    suffix=".onnx",
    precisions=("fp32", "int8"),
    extra="onnx",
    convert=convert,
    load=lambda path, manifest, threads=1: OnnxArtifact(path, threads),
    io_details=io_details,
    read_graph=onnx_reader.read_graph,
    timing="onnxruntime",
    side=True,
    any_batch=True,
    precision_of=onnx_reader.onnx_precision,
    target_settings=target_settings,
    recorded_setting=recorded_setting,
)
