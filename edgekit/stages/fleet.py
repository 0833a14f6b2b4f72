"""`edgekit profile ARTIFACT... --host/--hosts`: a board or a fleet measured in parallel over SSH (edgekit.measure
.remote measures one artifact on one host), each result saved as soon as it exists, beside its prediction.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from edgekit.errors import EdgekitError, UsageError
from edgekit.exporting.artifacts import artifact_at, unique_models
from edgekit.ioutil import sha256_file
from edgekit.measure.probe import remote_formats
from edgekit.measure.remote import (
    FOLDER_FORMATS,
    HostPlan,
    RemoteOptions,
    cache_entries,
    measure_on,
    plan_host,
    runner_bundle,
    to_result,
)
from edgekit.measure.ssh import Host, RemoteTimeout, SshError
from edgekit.results.store import save_result
from edgekit.stages.profile import check_timing, folder_artifacts, to_export
from edgekit.stages.vs_predicted import attach_prediction


# ------------------------------------------------------------------------------------------------- the fleet
def profile_remote(req, opts: RemoteOptions, say=None) -> tuple[list[dict[str, Any]], list[str]]:
    """Probe every host (in parallel), check the asserted targets, then measure each host's artifacts one at a time,
    the hosts in parallel. Saves each result as soon as it exists. Returns (results, error lines)."""
    if req.predict or req.emulate:
        raise UsageError("--host, --cpus, --cooldown-c and --power-cmd measure; --predict and --emulate do not")
    check_timing(req, remote=True)
    arts = remote_artifacts(req, {h.target for h in opts.hosts if h.target}, say)
    names = [name for a in arts for name, _ in cache_entries(a)] + [runner_bundle()[0]]
    formats = tuple(sorted({a.format for a in arts}))
    if not opts.hosts:
        raise UsageError("no host given: use --host USER@ADDR[:PORT] or --hosts FILE")

    with ThreadPoolExecutor(max_workers=len(opts.hosts)) as pool:
        planned = list(pool.map(lambda h: _plan_or_error(h, opts, names, formats), opts.hosts))
    usage = [p for p in planned if isinstance(p, UsageError)]
    if usage:
        raise usage[0]  # a wrong --target is the user's mistake: exit 2 before measuring anything
    lock = threading.Lock()
    results: list[dict[str, Any]] = []
    errors: list[str] = [str(p.message) for p in planned if isinstance(p, EdgekitError)]

    def keep(result: dict[str, Any]) -> None:
        if result["status"] == "ok":
            attach_prediction(result, arts_by_path[result["artifact"]["path"]].path)
        if req.save:
            result["saved_to"] = str(save_result(result, req.profiles_dir))
        with lock:
            results.append(result)
            if result["status"] != "ok":
                errors.append(f"{result['remote']['name']}: {result['model']}: {result['error']}")
        if say:
            say(f"{result['remote']['name']}: {result['model']} {result['format']}-{result['precision']}: "
                f"{result['status']}")  # fmt: skip

    arts_by_path = {str(a.path): a for a in arts}
    plans = [p for p in planned if isinstance(p, HostPlan)]
    with ThreadPoolExecutor(max_workers=max(1, len(plans))) as pool:
        list(pool.map(lambda plan: _measure_host(plan, arts, req, opts, keep), plans))
    return results, errors


def _plan_or_error(
    host: Host, opts: RemoteOptions, names: list[str], formats: tuple[str, ...]
) -> HostPlan | EdgekitError:
    try:
        return plan_host(host, opts, names, formats)
    except EdgekitError as exc:
        return exc


def _measure_host(plan: HostPlan, arts, req, opts: RemoteOptions, keep) -> None:
    """One artifact at a time on this host; after a dropped link or a timeout the rest fail with that reason."""
    broken: str | None = None
    for art in arts:
        if broken is None:
            try:
                result = measure_on(plan, art, req, opts)
            except (SshError, RemoteTimeout) as exc:
                broken = exc.message
                result = _failed(plan, art, exc.message)
            except EdgekitError as exc:
                result = _failed(plan, art, exc.message)
        else:
            result = _failed(plan, art, f"not measured: {broken}")
        keep(result)


def _failed(plan: HostPlan, art, error: str) -> dict[str, Any]:
    remote = {"name": plan.host.name, "address": plan.host.address, "port": plan.host.port, "copied": None}
    return to_result({"status": "failed", "error": error}, art, plan, sha256_file(art.path), remote)


def remote_artifacts(req, asserted: set[str] = frozenset(), say=None) -> list:
    """The artifacts named on the command line (files, or export folders: their TFLite files unless --format names
    other formats) that the device runner runs: .tflite, .onnx, OpenVINO .xml (+ .bin). A model name or a .keras
    file is exported here first (INT8 TFLite unless --format/--fp32 say otherwise), quantized for the board the
    hosts are asserted to be (--target) when they all name one."""
    if not req.items:
        raise UsageError(
            "name the .tflite, .onnx or OpenVINO .xml artifacts, export folders, models or .keras files to measure"
        )
    wanted = tuple(f for f in (req.formats or FOLDER_FORMATS) if f in remote_formats())
    in_folders = SimpleNamespace(id="remote", formats=wanted)
    arts = []
    for item in req.items:
        found = folder_artifacts(Path(item), req, in_folders)
        if found is None and to_export(item):
            found = _export_for_remote(item, req, asserted, say)
        arts.extend(found if found is not None else [artifact_at(Path(item))])
    wrong = [a for a in arts if a.format not in remote_formats()]
    if wrong:
        raise UsageError(
            f"{wrong[0].path}: remote profiling runs .tflite, .onnx and OpenVINO .xml artifacts (the device runner "
            f"needs only numpy + their runtime); this is {wrong[0].format}"
        )
    for art in arts:
        if art.format == "openvino" and not art.path.with_suffix(".bin").is_file():
            raise UsageError(f"{art.path}: its weights {art.path.with_suffix('.bin').name} are not beside it")
    if not arts:
        raise UsageError(f"no {'/'.join(wanted)} artifact in " + ", ".join(req.items))
    return unique_models(arts, prefer="tflite")


def _export_for_remote(item: str, req, asserted: set[str], say=None) -> list:
    from dataclasses import replace

    from edgekit.hardware.targets import get_target
    from edgekit.stages.profile import export_for
    from edgekit.stages.profile_keras import keras_precision

    target = get_target(next(iter(asserted)) if len(asserted) == 1 else "host")
    if say:
        board = f"for {target.id}" if target.id != "host" else "(no --target: quantized as for this machine)"
        say(f"{item}: exporting before measuring {board}")
    formats = tuple(f for f in (req.formats or ("tflite",)) if f in remote_formats())
    return export_for(item, replace(req, precision=keras_precision(req.precision, target), formats=formats), target)


def options_from_cli(
    host_specs: list[str],
    hosts_file: Path | None,
    target: str | None,
    *,
    identity: Path | None = None,
    python: str | None = None,
    ssh_config: Path | None = None,
    cpus: str | None = None,
    cooldown_c: float | None = None,
    power_cmd: str | None = None,
) -> RemoteOptions:
    """--host (repeatable) and --hosts FILE -> RemoteOptions; --identity/--remote-python/--target fill what a fleet
    file leaves out."""
    from dataclasses import replace

    from edgekit.device.system import parse_cpu_list
    from edgekit.measure.ssh import load_hosts, parse_host

    hosts = [parse_host(spec) for spec in host_specs] + (load_hosts(hosts_file) if hosts_file else [])
    local = not hosts  # --cpus / --cooldown-c / --power-cmd alone: the device runner on this machine
    if local:
        from edgekit.measure.local import LOCAL

        if identity is not None or python is not None or ssh_config is not None:
            raise UsageError("--identity, --remote-python and --ssh-config need --host or --hosts")
        hosts = [LOCAL]
    hosts = [
        replace(h, identity=h.identity or identity, python=h.python or python, target=h.target or target) for h in hosts
    ]
    names = [h.name for h in hosts]
    if len(set(names)) != len(names):
        raise UsageError(f"the same host twice: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
    if cpus is not None:
        try:
            parse_cpu_list(cpus)
        except ValueError as exc:
            raise UsageError(f"--cpus: {exc}") from None
    if cooldown_c is not None and not 0 < cooldown_c < 120:
        raise UsageError(f"--cooldown-c {cooldown_c:g}: give a temperature in °C between 0 and 120")
    if ssh_config is not None and not Path(ssh_config).is_file():
        raise UsageError(f"--ssh-config: no such file {ssh_config}")
    return RemoteOptions(
        hosts, ssh_config=ssh_config, cpus=cpus, cooldown_c=cooldown_c, power_cmd=power_cmd, local=local
    )
