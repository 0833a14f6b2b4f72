"""edgekit device runner: run one model artifact with only numpy + its runtime; print one JSON object.

The runtime follows the file's suffix (or --runtime) through the runtime table (runtimes.py, one row per runtime):
.tflite with LiteRT or tflite-runtime (the ``device`` extra), .onnx with ONNX Runtime (``device-onnx``), OpenVINO IR
.xml (+ the .bin of the same stem) with OpenVINO (``device-openvino``); another suffix is read as TFLite. A runtime is
imported only for its own format. This package is the only code in edgekit that creates a runtime: the rest of
edgekit opens models in-process with ``edgekit.device.open_model`` (api.py) or runs this runner in a subprocess.

This package is copied alone onto devices (a Raspberry Pi over SSH, an emulated arm64 userland): it imports nothing
from the rest of edgekit, only the standard library, numpy and that one runtime, and runs on Python >= 3.7
(Coral's Mendel Linux). To ship it, put ``edgekit/device/`` and an ``edgekit/__init__.py`` (edgekit's own, or an
empty one) on the device's PYTHONPATH.

Command line::

    python -m edgekit.device run MODEL.tflite|.onnx|.xml --json [--runtime auto|litert|tflite-runtime|onnxruntime|
        openvino] [--device CPU|GPU|NPU] [--threads N] [--precision fp32|fp16|dynamic|int8]
        [--runs N] [--warmup N] [--min-seconds S] [--inputs FILE.npy|.npz] [--seed N] [--save-inputs FILE.npy]
        [--save-outputs FILE.npy|.npz] [--profile-ops] [--mark-invokes] [--cpus LIST] [--cooldown-c T]
        [--cooldown-max-s S] [--idle-seconds S] [--delegate edgetpu] [--mode latency|throughput] [--batch N]
        [--requests N] [--xnnpack-fp16 | --no-xnnpack] [--max-seconds S] [--cache-dir DIR|none] [--inputs DIR]

--mode throughput measures frames/s instead of deriving it from latency: OpenVINO compiles with PERFORMANCE_HINT
THROUGHPUT (streams chosen by the plugin; all cores unless --threads) and keeps OPTIMAL_NUMBER_OF_INFER_REQUESTS
asynchronous requests busy (AsyncInferQueue, each request filled once, as benchmark_app); LiteRT and ONNX Runtime run
--requests (default: one per --threads CPUs) loaded copies of the model, one Python thread each (both runtimes release
the GIL while computing). fps = frames completed / wall time of the timed loop (throughput.py); latency_ms is then
each call's time under that load. --batch N reshapes the first input dimension (OpenVINO reshape, LiteRT
resize_tensor_input, an ONNX symbolic batch); a model that cannot take it is a usage error (exit 2).
--no-xnnpack builds LiteRT's interpreter without its default delegates (BUILTIN_WITHOUT_DEFAULT_DELEGATES);
--xnnpack-fp16 runs through LiteRT's CompiledModel with XNNPACK FORCE_FP16 (litert_compiled.py: the Interpreter takes
no XNNPACK flags). --max-seconds stops the timed loop at that time even before --runs. --inputs DIR: a folder of .npy
samples (one per file; `edgekit profile --inputs DIR` writes them from images) cycled through by the timed runs.
OpenVINO compiles with CACHE_DIR (default $EDGEKIT_CACHE/openvino, else ~/.cache/edgekit/openvino).

Inputs are fixed: read from --inputs (already in the model's input dtype, shape exact; float64 is cast to float32),
or generated from --seed (default 0): integers over the whole range for int8/uint8 inputs, uniform [-1, 1] for float.
Warm-up runs come first, then timed runs until both --runs and --min-seconds are reached. Only the runtime's inference
call is timed: ``invoke()`` (TFLite), ``session.run()`` (ONNX Runtime), ``InferRequest.infer()`` (OpenVINO).

ONNX Runtime: CPUExecutionProvider only, intra-op threads = --threads, inter-op threads 1, sequential execution, full
graph optimisation. A dynamic input dimension (a symbolic batch) is fed as 1, or as --inputs gives it.
OpenVINO: --device CPU (default), GPU or NPU, measured only when Core().available_devices lists it (else a one-line
error naming the devices listed), compiled for that device by name (never AUTO/HETERO); a compiled model whose
EXECUTION_DEVICES are not the requested device alone is refused. CPU: LATENCY hint, one stream, --threads inference
threads, and f32 inference precision for an FP32 IR (--precision, else read from the IR: no silent bfloat16); FP16 and
INT8 IRs keep the plugin's default. Dynamic input dimensions are fixed to 1 before compiling.
--mark-invokes brackets each timed invoke() with a no-op ``lseek(-1, MAGIC, 0)`` (EBADF) that edgekit's QEMU plugin
uses to count guest instructions per inference; it changes nothing else.

Output contract (``--json``): exactly one JSON object on stdout, nothing else (native log lines go to stderr).
Keys (stable; new keys may be added, none removed)::

    schema               "edgekit.device.run/1"
    status               "ok" | "failed"
    error                null | one-line message
    model                {path, bytes, sha256}
    runtime              {name: "litert"|"tflite-runtime"|"onnxruntime"|"openvino", version, threads, xnnpack (LiteRT:
                         "default"|"fp16"|"off"; null with a delegate),
                         device: "cpu"|"edgetpu" (OpenVINO: the device the compiled model executes on, "CPU"|"GPU"|
                         "NPU"), cpus}; onnxruntime adds providers (["CPUExecutionProvider"]), inter_op_threads (1)
                         and execution_mode ("sequential"); openvino adds requested_device, execution_devices,
                         threads_requested (threads is what OpenVINO uses; null on GPU/NPU), build,
                         inference_precision, inference_precision_requested ("f32" | "default"),
                         inference_num_threads, performance_hint, num_streams, cpu_pinning
    cpus                 the CPUs this process may run on (after --cpus pinning, os.sched_setaffinity)
    accelerators         {edgetpu_usb, edgetpu_pcie}: Edge TPUs seen on the USB bus / as /dev/apex_0
    cooldown             null, or {limit_c, status: ok|timeout|absent, start_c, end_c, waited_s, ...} (--cooldown-c)
    thermal              {before, after: {temp_c, temp_source, throttled (vcgencmd get_throttled, hex), throttled_flags,
                         arm_clock_mhz, cpufreq: {status, governor, clock_mhz}}, throttled: true|false|null, ...}
    power                {status: "absent", reason} or {status, source: "measured", method: "pi5-pmic"|"intel-rapl",
                         scope, idle_w, active_w, energy_mj_per_inference} (sampled during the timed runs)
    machine              platform.machine() of the interpreter running us (e.g. "aarch64")
    host                 {hostname, machine, cpu, cpu_part, board, os}  (board: /proc/device-tree/model or null)
    python, numpy        version strings
    input, output        first input/output tensor {name, shape, dtype, quantization: {scale, zero_point} | null}
                         (the shapes fed and returned; quantization is null for ONNX and OpenVINO, whose model
                         inputs and outputs carry none)
    inputs, outputs      every input/output tensor, same shape of entries
    input_source         "seed:N" | "file:PATH"
    load_ms              Interpreter() + allocate_tensors(); InferenceSession() (ONNX Runtime); read_model() +
                         compile_model() (OpenVINO)
    read_ms, compile_ms  load_ms apart: Interpreter() / allocate_tensors() (XNNPACK applied); reading the file /
                         InferenceSession(); read_model() / compile_model(); CompiledModel: null / from_file()
    compile_cache        OpenVINO: {dir, hit} (hit: LOADED_FROM_CACHE); null for the others or with --cache-dir none
    mode, batch          latency | throughput; the batch fed
    max_seconds          the --max-seconds bound, or null; stopped_by "runs" | "max_seconds"
    throughput           {fps, frames, calls, batch, seconds, requests, streams, method, source: "measured"}
    throughput_fps       throughput.fps (latency mode: the sequential loop's frames / wall time)
    input_feeds          with --inputs DIR: the input sets cycled through
    first_inference_ms   the first invoke() (with --delegate edgetpu it includes the parameter transfer; a note says so)
    warmup               warm-up runs done (after the first inference)
    latency_ms           {median, p90, p99, std (population), mean, min, max, n} over the timed runs
    timed_seconds        wall time of the timed loop
    peak_memory_bytes    ru_maxrss of this process (bytes) after the timed runs (before --profile-ops)
    baseline_memory_bytes  ru_maxrss after importing numpy and the runtime, before loading the model
    output_sha256        sha256 over the raw bytes of every output tensor, in output order, after the last run
    outputs_saved        path of --save-outputs (one output: .npy; several: .npz arr_0..), or null
    inputs_saved         path of --save-inputs, or null
    precision_detected   "fp32"|"fp16"|"int8" read from an OpenVINO IR; null for the other runtimes
    layers               with --profile-ops: [{index, name, op, time_ms, percent}] slowest first; null otherwise or
                         when profiling failed. TFLite: each op timed alone as a one-op model (opprofile.py); ONNX
                         Runtime: its profiler's mean node kernel time; OpenVINO: its performance counters' mean real
                         time per executed node, plus exec_type (the kernel)
    layers_note          with layers: how they were measured (and over how many runs)
    layers_error         why layers is null despite --profile-ops, else absent

On failure the object is ``{"schema", "status": "failed", "error", "error_type"}``, a one-line
``error: ...`` goes to stderr, and the exit code is 1 (2 for bad arguments, such as --delegate edgetpu on an .onnx
file). A missing runtime names the pip line that installs it (e.g. ``pip install "onnxruntime==1.32.0"``).
"""

from .api import (
    edgetpu_missing,
    open_model,
    openvino_device_description,
    openvino_devices,
    read_openvino_model,
    tflite_ops,
)
from .base import RunnerError, RunSettings
from .runtimes import names as _runtime_names

SCHEMA = "edgekit.device.run/1"
RUNTIMES = _runtime_names()  # the runtime table's names (runtimes.py)

__all__ = [
    "RUNTIMES",
    "SCHEMA",
    "RunSettings",
    "RunnerError",
    "edgetpu_missing",
    "open_model",
    "openvino_device_description",
    "openvino_devices",
    "read_openvino_model",
    "tflite_ops",
]
