"""Edge TPU: the full-integer TFLite (int8 I/O), compiled by edgetpu_compiler when it is on PATH.

The compiler runs on x86-64 Debian only and cannot be installed everywhere: without it edgekit still writes the
int8 TFLite it would compile and gives its own op-mapping analysis (edgekit.analyze.edgetpu).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError
from edgekit.exporting.base import ExportFormat, ExportJob
from edgekit.exporting.formats import tflite


def compiler_path() -> str | None:
    return shutil.which("edgetpu_compiler")


def compile_edgetpu(model_path: Path, out_dir: Path, compiler: str, timeout: float = 600) -> dict[str, Any]:
    proc = subprocess.run(
        [compiler, "-s", "-o", str(out_dir), str(model_path)], capture_output=True, text=True, timeout=timeout
    )
    log = proc.stdout + proc.stderr
    (out_dir / "edgetpu_compiler.log").write_text(log)
    if proc.returncode != 0:
        raise EdgekitError(f"edgetpu_compiler failed on {model_path.name}: {log.strip().splitlines()[-1:]}")
    from edgekit.analyze.edgetpu import parse_compiler_log

    return parse_compiler_log(log)


def own_analysis(model_path: Path) -> dict[str, Any]:
    try:
        from edgekit.analyze.edgetpu import analyze_edgetpu
    except ImportError:  # pragma: no cover - the analysis module ships with edgekit
        return {}
    return analyze_edgetpu(model_path)


def convert(job: ExportJob) -> list[Path]:
    job.precision = "int8"
    job.io = "int8"  # the Edge TPU needs int8 input and output
    files = tflite.convert(job)
    model_path = files[0]
    compiler = compiler_path()
    if compiler:
        job.extra["compiler"] = compile_edgetpu(model_path, job.out_dir, compiler)
        compiled = job.out_dir / "model_edgetpu.tflite"
        files += [p for p in (compiled, job.out_dir / "edgetpu_compiler.log") if p.exists()]
    else:
        job.extra["compiler"] = {
            "status": "absent",
            "message": "edgetpu_compiler not found on PATH (x86-64 Debian only): wrote the int8 TFLite it would "
            "compile; see 'analysis' for edgekit's own op mapping",
        }
    job.extra["analysis"] = summarize(own_analysis(model_path))
    return files


def summarize(analysis: dict[str, Any]) -> dict[str, Any]:
    """Keep the manifest readable: counts, problems, and only the ops that would not map to the TPU."""
    if not analysis:
        return analysis
    ops = analysis.get("ops", [])
    return {**analysis, "model": "model.tflite", "ops": [op for op in ops if op.get("device") != "tpu"]}


FORMAT = ExportFormat(
    name="edgetpu",
    order=40,
    suffix=".tflite",
    precisions=("int8",),
    extra="tf",
    convert=convert,
    load=lambda path, manifest, threads=1: tflite.TFLiteArtifact(path, threads),  # the CPU twin, for fidelity
    io_details=tflite.io_details,
    read_graph=tflite.FORMAT.read_graph,
    timing="litert",  # with the Edge TPU delegate, on the device
    default=False,
    suffixes=("_edgetpu.tflite",),  # the compiled file; the export's int8 model.tflite is listed first
    precision_of=tflite.FORMAT.precision_of,
    host_note="Edge TPU artifacts need a Coral Edge TPU; profile them on that target",
    export_hint="edgekit export MODEL --format tflite --int8 --io int8",
    target_settings=lambda target, precision: {
        "key": "",
        "reason": "Edge TPU: full-integer int8 TFLite with int8 input and output, compiled by edgetpu_compiler when "
        "it is on PATH",
    },
)
