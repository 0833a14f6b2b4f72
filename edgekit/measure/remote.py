"""`edgekit profile ARTIFACT... --host USER@ADDR[:PORT]`: measure on boards over SSH, one or a fleet in parallel.

Per host: one probe (which Python, which runtimes, what board, which cached files), then per artifact: copy it
unless the remote's content-addressed cache already has it (~/.cache/edgekit/remote/models/<sha256>.tflite or .onnx;
an OpenVINO IR as <key>.xml + <key>.bin, key = sha256 of both files' sha256; each checked against its sha256 on
arrival), copy the device runner the same way (.../remote/runner-<hash>/), run
`python -m edgekit.device run` there under `timeout`, and turn its JSON into a profile result stored under the
target the remote *is* (device-tree model, CPU part; an unknown machine is ssh-<machine>, never a board's name).
Results gathered before a link drops are kept; the rest of that host's artifacts fail with the reason.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.device import runtimes
from edgekit.errors import EdgekitError, UsageError
from edgekit.hardware.boards import detect_targets
from edgekit.ioutil import sha256_file
from edgekit.measure.options import TimingOptions
from edgekit.measure.probe import choose_target, install_line, probe_host, python_of, remote_formats
from edgekit.measure.ssh import Host, Ssh

DEVICE_DIR = Path(__file__).resolve().parents[1] / "device"
LITERT_PIN = runtimes.get("litert").pin  # the version the device extra pins (pyproject.toml)
# Export folders give the TFLite formats only unless --format names others (a Pi folder also holds an OpenVINO IR it
# has no runtime for).
FOLDER_FORMATS = ("tflite", "edgetpu")
_GRACE_S = 30.0  # on top of --timeout for the ssh process itself: connecting, copying back the JSON


# Receives one cache entry on stdin and renames it into place only when whole (argv: root, name, sha256, kind).
RECEIVE = r"""
import hashlib, io, os, shutil, sys, tarfile
root, name, digest, kind = sys.argv[1:5]
data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read()
if hashlib.sha256(data).hexdigest() != digest:
    sys.stderr.write("edgekit: the copy arrived damaged (sha256 mismatch)\n")
    sys.exit(3)
dest = os.path.join(root, name)
parent = os.path.dirname(dest)
if not os.path.isdir(parent):
    os.makedirs(parent)
tmp = "%s.tmp.%d" % (dest, os.getpid())
if kind == "tar":
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        t.extractall(tmp, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    try:
        os.rename(tmp, dest)
    except OSError:
        shutil.rmtree(tmp)  # a parallel upload of the same runner won
else:
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, dest)
"""


@dataclass
class RemoteOptions:
    hosts: list[Host]
    ssh_config: Path | None = None
    connect_timeout: float = 10.0
    cpus: str | None = None
    cooldown_c: float | None = None
    power_cmd: str | None = None
    local: bool = False  # measure here with the device runner (no SSH): hosts holds local.LOCAL


@dataclass
class HostPlan:
    """What the probe found on one host, and what it will be measured as."""

    host: Host
    ssh: Ssh
    probe: dict[str, Any]
    target_id: str
    delegate: str | None
    cached: set[str] = field(default_factory=set)


# ---------------------------------------------------------------------------------------------- the device runner
def runner_bundle() -> tuple[str, bytes]:
    """(cache name, tar bytes) of edgekit/device/*.py plus an empty edgekit/__init__.py: the runner alone."""
    files = {"edgekit/__init__.py": b'"""edgekit device runner (copied by edgekit profile --host)."""\n'}
    for path in sorted(DEVICE_DIR.glob("*.py")):
        files[f"edgekit/device/{path.name}"] = path.read_bytes()
    digest = hashlib.sha256()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            digest.update(name.encode() + b"\0" + data)
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return f"runner-{digest.hexdigest()[:16]}", buffer.getvalue()


def model_cache_name(path: Path, sha256: str) -> str:
    suffix = "_edgetpu.tflite" if path.name.endswith("_edgetpu.tflite") else path.suffix.lower() or ".tflite"
    return f"models/{sha256}{suffix}"


def cache_entries(art) -> list[tuple[str, Path]]:
    """(cache name, local file) for each file the runner needs, the model first. An OpenVINO IR's .xml and .bin
    share one key made of both contents (the runner finds the .bin by the .xml's stem), so a changed .bin is a new
    entry too."""
    if art.format != "openvino":
        return [(model_cache_name(art.path, sha256_file(art.path)), art.path)]
    weights = art.path.with_suffix(".bin")
    key = hashlib.sha256((sha256_file(art.path) + sha256_file(weights)).encode()).hexdigest()
    return [(f"models/{key}.xml", art.path), (f"models/{key}.bin", weights)]


# ------------------------------------------------------------------------------------------------- one host
def plan_host(host: Host, opts: RemoteOptions, names: list[str], formats: tuple[str, ...] = ("tflite",)) -> HostPlan:
    from edgekit.hardware.targets import get_target

    if opts.local:  # this machine, driven like a remote (edgekit/measure/local.py)
        from edgekit.measure.local import LocalShell, local_target

        ssh = LocalShell(host)
        probe = probe_host(ssh, names, timeout=opts.connect_timeout + _GRACE_S)
        target_id = local_target(host, probe, detect_targets(probe))
    else:
        ssh = Ssh(host, config=opts.ssh_config, connect_timeout=opts.connect_timeout)
        probe = probe_host(ssh, names, timeout=opts.connect_timeout + _GRACE_S)
        target_id = choose_target(host, probe)
    line = install_line(probe, formats)
    if line:
        needed = ", ".join(sorted({remote_formats()[f] for f in formats}))
        raise EdgekitError(
            f"{host.name}: numpy or a runtime ({needed}) missing for {probe['executable']}; run there: {line}"
        )
    delegate = None  # an ssh-* machine edgekit has no target file for: its CPU, no delegate
    if not target_id.startswith("ssh-"):
        from edgekit.costmodel.kinds import hook  # how a kind is measured over --host is its module's business

        target = get_target(target_id)
        if hook(target, "REMOTE_REFUSAL"):
            raise UsageError(f"{host.name}: {hook(target, 'REMOTE_REFUSAL')}")
        delegate = hook(target, "DELEGATE")
    return HostPlan(host, ssh, probe, target_id, delegate, set(probe.get("have", [])))


def ensure_cached(plan: HostPlan, name: str, data: bytes, kind: str, timeout: float) -> bool:
    """Copy data into the remote cache unless it is there; True when it was copied."""
    if name in plan.cached:
        return False
    digest = hashlib.sha256(data).hexdigest()
    argv = [python_of(plan.host), "-c", RECEIVE, plan.probe["root"], name, digest, kind]
    proc = plan.ssh.run(argv, timeout=timeout, stdin=data)
    if proc.returncode != 0:
        detail = (proc.stderr.decode(errors="replace").strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise EdgekitError(f"{plan.host.name}: copying {name} failed: {detail[:200]}")
    plan.cached.add(name)
    return True


def runner_argv(plan: HostPlan, model: str, req, opts: RemoteOptions, inputs: str | None = None) -> list[str]:
    """The device runner's command on the board; the timing options as edgekit profile got them (inputs: the
    board-side folder of prepared samples)."""
    timing = getattr(req, "timing", None) or TimingOptions()
    argv = [python_of(plan.host), "-m", "edgekit.device", "run", model, "--json"]
    if req.threads or timing.mode == "latency":  # throughput without --threads: the runtime's own choice
        argv += ["--threads", str(req.threads or 1)]
    argv += ["--runs", str(req.runs), "--warmup", str(req.warmup), "--min-seconds", repr(float(req.min_seconds))]
    argv += timing.runner_args(inputs)
    if opts.cpus:
        argv += ["--cpus", opts.cpus]
    if opts.cooldown_c is not None:
        argv += ["--cooldown-c", repr(float(opts.cooldown_c))]
    if plan.delegate and not timing.delegate:
        argv += ["--delegate", plan.delegate]
    if plan.probe.get("timeout"):  # the remote kills its own runner at --timeout, even if the link is gone
        argv = ["timeout", "-k", "5", str(int(req.timeout) + 1), *argv]
    return argv


def measure_on(plan: HostPlan, art, req, opts: RemoteOptions) -> dict[str, Any]:
    """Copy (if needed) and run one artifact on the host; a profile result (status ok or failed)."""
    from edgekit.measure.powercmd import PowerCommand

    sha = sha256_file(art.path)
    entries = cache_entries(art)
    runner_name, bundle = runner_bundle()
    copied = False
    for entry, path in entries:
        data = path.read_bytes()
        copy_timeout = opts.connect_timeout + _GRACE_S + len(data) / 1e6  # >= 1 MB/s
        copied = ensure_cached(plan, entry, data, "file", copy_timeout) or copied
    ensure_cached(plan, runner_name, bundle, "tar", opts.connect_timeout + _GRACE_S + len(bundle) / 1e6)
    name = entries[0][0]
    root = plan.probe["root"]
    inputs = _remote_inputs(plan, art, req, opts)
    argv = runner_argv(plan, f"{root}/{name}", req, opts, f"{root}/{inputs}" if inputs else None)
    meter = PowerCommand(opts.power_cmd) if opts.power_cmd else None
    idle_w = meter.idle_w() if meter else None
    started = time.time()
    with meter.sampling() if meter else nullcontext():
        proc = plan.ssh.run(argv, timeout=req.timeout + _GRACE_S, env={"PYTHONPATH": f"{root}/{runner_name}"})
    finished = time.time()
    out = _last_json(proc.stdout.decode(errors="replace"))
    remote = {
        "name": plan.host.name,
        "address": plan.host.address,
        "port": plan.host.port,
        "python": plan.probe["executable"],
        "model_path": f"{root}/{name}",
        **({"weights_path": f"{root}/{entries[1][0]}"} if len(entries) > 1 else {}),
        "copied": copied,
        "runner": runner_name,
        "started": started,
        "finished": finished,
    }
    if proc.returncode in (124, 137):
        out = {"status": "failed", "error": f"timed out after {req.timeout:g} s on the remote (killed by timeout)"}
    elif out is None:
        detail = (proc.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        out = {"status": "failed", "error": f"the device runner exited {proc.returncode}: {detail[:200]}"}
    result = to_result(out, art, plan, sha, remote)
    if meter and result["status"] == "ok":
        meter_power = meter.summary(idle_w, finished, out.get("timed_seconds") or 0.0, out["latency_ms"]["n"])
        if (result.get("power") or {}).get("status") == "ok":
            result["power_onboard"] = result["power"]  # the board's own reading (PMIC/RAPL), kept beside the meter's
        result["power"], result["power_w"] = meter_power, meter_power.get("active_w")
        result["energy_mj"] = meter_power.get("energy_mj_per_inference")
    return result


def _remote_inputs(plan: HostPlan, art, req, opts: RemoteOptions) -> str | None:
    """--inputs DIR: its images preprocessed here (the artifact's manifest), copied to the board's cache as a folder
    of .npy samples; the cache name, or None without --inputs."""
    import tempfile

    from edgekit.measure.inputs import folder_digest, prepare_samples

    timing = getattr(req, "timing", None)
    if timing is None or timing.inputs is None:
        return None
    with tempfile.TemporaryDirectory(prefix="edgekit-inputs-") as tmp:
        prepare_samples(timing.inputs, art.manifest, art.path, Path(tmp))
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for path in sorted(Path(tmp).glob("*.npy")):
                tar.add(path, arcname=path.name)
        name = f"inputs/{folder_digest(Path(tmp))}"
    data = buffer.getvalue()
    ensure_cached(plan, name, data, "tar", opts.connect_timeout + _GRACE_S + len(data) / 1e6)
    return name


def _last_json(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        return value if isinstance(value, dict) else None
    return None


def to_result(out: dict[str, Any], art, plan: HostPlan, sha: str, remote: dict[str, Any]) -> dict[str, Any]:
    """The device runner's JSON -> a profile result: source measured, filed under the remote's target."""
    from edgekit.measure.host import detected_precision, timing_fields
    from edgekit.results.record import base_result, host_info

    meta = art.manifest or {}
    precision = meta.get("precision") or detected_precision(art.path, art.format) or "unknown"
    result = base_result(plan.target_id, meta.get("model") or art.path.stem, art.format, precision, "measured")
    result["mode"], result["batch"] = out.get("mode") or "latency", out.get("batch") or 1
    result["host"] = out.get("host") or _probe_host(plan.probe)
    if plan.host.address != "localhost" or plan.host.name != "local":
        result["host"]["ssh"] = plan.host.name  # over SSH: the board's name in the fleet
    result["workstation"] = host_info()
    result["remote"] = remote
    result["artifact"] = {"path": str(art.path), "sha256": sha}
    if art.format == "openvino" and art.path.with_suffix(".bin").is_file():
        result["artifact"]["weights_sha256"] = sha256_file(art.path.with_suffix(".bin"))
    result["size_bytes"] = art.path.stat().st_size
    result["runtime"] = out.get("runtime") or {"name": None, "version": None, "threads": None, "device": plan.delegate}
    if out.get("status") != "ok":
        result.update(status="failed", error=out.get("error") or "the device runner failed")
        return result
    latency = out["latency_ms"]
    result.update(
        latency_ms=latency,
        peak_memory_bytes=out.get("peak_memory_bytes"),
        load_ms=out.get("load_ms"),
        first_inference_ms=out.get("first_inference_ms"),
        throughput_ips=round(1000.0 / latency["mean"], 3) if latency.get("mean") else None,
        layers=[],
    )
    power = out.get("power") or {}
    if power.get("status") == "ok":
        result.update(power_w=power.get("active_w"), energy_mj=power.get("energy_mj_per_inference"))
    for key in ("machine", "python", "numpy", "cpus", "accelerators", "cooldown", "thermal", "power", "inputs",
                "outputs", "timed_seconds", "output_sha256", "first_inference_note", "warmup"):  # fmt: skip
        if key in out:
            result[key] = out[key]
    result.update(timing_fields(out))
    result["throttled"] = (out.get("thermal") or {}).get("throttled")
    return result


def _probe_host(probe: dict[str, Any]) -> dict[str, Any]:
    keys = ("hostname", "machine", "cpu", "cpu_part", "board", "os")
    return {k: probe.get(k) for k in keys}
