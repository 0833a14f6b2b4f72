"""How a measurement runs beyond threads and runs: the benchmark_app and LiteRT benchmark_model options of
`edgekit profile` (--device, --delegate, --mode, --batch, --xnnpack-fp16, --no-xnnpack, --max-seconds, --inputs),
checked once here and handed to the device runner as its own options, here (host.py) or on a board (remote.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.errors import UsageError

DEVICES = ("CPU", "GPU", "NPU")  # OpenVINO devices, by name (never AUTO)
DELEGATES = ("edgetpu",)
MODES = ("latency", "throughput")  # edgekit.device.base.MODES (the device package imports nothing of edgekit)


@dataclass(frozen=True)
class TimingOptions:
    device: str | None = None  # OpenVINO device; None: CPU
    delegate: str | None = None  # LiteRT delegate: "edgetpu"
    mode: str = "latency"
    batch: int = 1
    xnnpack_fp16: bool = False
    no_xnnpack: bool = False
    max_seconds: float | None = None
    inputs: Path | None = None  # a folder of images, preprocessed as the artifact's manifest says

    @property
    def xnnpack(self) -> str:
        return "fp16" if self.xnnpack_fp16 else ("off" if self.no_xnnpack else "default")

    def is_default(self) -> bool:
        return self == TimingOptions()

    def given(self) -> list[str]:
        """The options set away from their defaults, spelt as on the command line."""
        names = {
            "--device": self.device not in (None, "CPU"), "--delegate": self.delegate is not None,
            "--mode": self.mode != "latency", "--batch": self.batch != 1, "--xnnpack-fp16": self.xnnpack_fp16,
            "--no-xnnpack": self.no_xnnpack, "--max-seconds": self.max_seconds is not None,
            "--inputs": self.inputs is not None,
        }  # fmt: skip
        return [name for name, set_ in names.items() if set_]

    def formats(self) -> tuple[str, ...] | None:
        """The formats these options can time (None: any): a GPU/NPU is OpenVINO's, a delegate or XNNPACK LiteRT's."""
        if self.device in ("GPU", "NPU"):
            return ("openvino",)
        if self.delegate:
            return ("edgetpu", "tflite")
        if self.xnnpack != "default":
            return ("tflite",)
        return None

    def why_formats(self) -> str:
        if self.device in ("GPU", "NPU"):
            return f"--device {self.device} runs OpenVINO .xml artifacts"
        if self.delegate:
            return f"--delegate {self.delegate} runs .tflite artifacts"
        return f"--{'xnnpack-fp16' if self.xnnpack_fp16 else 'no-xnnpack'} is LiteRT's (.tflite artifacts)"

    def runner_args(self, inputs: str | None = None) -> list[str]:
        """The device runner's options for these settings (inputs: the runner-side folder of prepared samples)."""
        args = ["--mode", self.mode, "--batch", str(self.batch)]
        if self.device:
            args += ["--device", self.device]
        if self.delegate:
            args += ["--delegate", self.delegate]
        if self.xnnpack_fp16:
            args.append("--xnnpack-fp16")
        if self.no_xnnpack:
            args.append("--no-xnnpack")
        if self.max_seconds is not None:
            args += ["--max-seconds", repr(float(self.max_seconds))]
        if inputs:
            args += ["--inputs", inputs]
        return args

    def settings(self) -> dict[str, Any]:
        """What a result records of them (settings block)."""
        return {
            "mode": self.mode, "batch": self.batch, "device": self.device or "CPU", "delegate": self.delegate,
            "xnnpack": self.xnnpack, "max_seconds": self.max_seconds,
            "inputs": str(self.inputs) if self.inputs else None,
        }  # fmt: skip


def timing_options(
    device: str | None = None,
    delegate: str | None = None,
    mode: str = "latency",
    batch: int = 1,
    xnnpack_fp16: bool = False,
    no_xnnpack: bool = False,
    max_seconds: float | None = None,
    inputs: Any = None,
) -> TimingOptions:
    """Checked options (a one-line UsageError for a bad value: exit 2)."""
    if device is not None and str(device).upper() not in DEVICES:
        raise UsageError(f"--device must be one of {', '.join(DEVICES)} (OpenVINO devices), not {device!r}")
    if delegate is not None and delegate not in DELEGATES:
        raise UsageError(f"--delegate must be {' or '.join(DELEGATES)}, not {delegate!r}")
    if mode not in MODES:
        raise UsageError(f"--mode must be {' or '.join(MODES)}, not {mode!r}")
    if not isinstance(batch, int) or batch < 1:
        raise UsageError(f"--batch must be an integer of at least 1, not {batch!r}")
    if xnnpack_fp16 and no_xnnpack:
        raise UsageError("choose --xnnpack-fp16 or --no-xnnpack, not both")
    if max_seconds is not None and not max_seconds > 0:
        raise UsageError(f"--max-seconds must be above 0, not {max_seconds:g}")
    if delegate and device not in (None, "CPU", "cpu"):
        raise UsageError(f"--delegate {delegate} and --device {device}: one names LiteRT's accelerator, one OpenVINO's")
    folder = Path(inputs) if inputs is not None else None
    if folder is not None and not folder.is_dir():
        raise UsageError(f"--inputs {folder}: not a folder of images")
    upper = str(device).upper() if device is not None else None
    return TimingOptions(upper, delegate, mode, batch, xnnpack_fp16, no_xnnpack, max_seconds, folder)
