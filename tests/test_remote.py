"""Remote profiling over SSH against real OpenSSH servers started here on 127.0.0.1 (throwaway keys, free ports).

Each server is Debian's /usr/sbin/sshd run in the foreground with its own config, host key and authorized_keys in a
temporary folder; the client is the system `ssh` with an ssh_config naming a temporary known_hosts file. Nothing is
mocked on the SSH side. The remote's "python" is this test environment's interpreter (it has numpy + LiteRT), or a
bare venv (no runtime), or a small wrapper script standing in for a misbehaving board: one that drops its own SSH
session mid-run (a pulled cable) and one that hangs.

Without sshd these tests skip, unless EDGEKIT_REQUIRE_SSH=1 (CI) makes that a failure.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

try:
    from tests._tiny import tiny_onnx_model, tiny_openvino_model, tiny_tflite_models
    from tests.conftest import run_cli
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from _tiny import tiny_onnx_model, tiny_openvino_model, tiny_tflite_models
    from conftest import run_cli

pytestmark = pytest.mark.ssh
SSHD = Path("/usr/sbin/sshd")


def _require_sshd() -> None:
    missing = [name for name, ok in (("sshd", SSHD.exists()), ("ssh", shutil.which("ssh"))) if not ok]
    if missing:
        message = f"{', '.join(missing)} missing: apt-get install openssh-server openssh-client"
        if os.environ.get("EDGEKIT_REQUIRE_SSH") == "1":
            pytest.fail(message)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


class SshServer:
    """A real sshd on 127.0.0.1:<free port> that accepts one client key; stopped by stop()."""

    def __init__(self, folder: Path, client_pub: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.port = _free_port()
        self.host_key = _keygen(folder / "host_key")
        (folder / "authorized_keys").write_text(client_pub.read_text())
        config = folder / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.host_key}\n"
            f"AuthorizedKeysFile {folder / 'authorized_keys'}\nStrictModes no\nUsePAM no\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
            f"PidFile {folder / 'sshd.pid'}\nLogLevel VERBOSE\nSetEnv HOME={folder / 'home'}\n"
        )
        (folder / "home").mkdir(exist_ok=True)  # the remote's home (and its ~/.cache/edgekit), not the real one
        if os.geteuid() == 0:  # root's sshd wants its privilege-separation folder (on tmpfs: gone after a reboot)
            Path("/run/sshd").mkdir(exist_ok=True)
        self.log = open(folder / "sshd.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen([str(SSHD), "-D", "-f", str(config), "-e"], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"sshd did not start: {(folder / 'sshd.log').read_text()[-500:]}")

    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {Path(str(self.host_key) + '.pub').read_text().strip()}\n"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    _require_sshd()
    folder = tmp_path_factory.mktemp("ssh-keys")
    return {"good": _keygen(folder / "client"), "wrong": _keygen(folder / "stranger")}


@pytest.fixture(scope="module")
def servers(tmp_path_factory, keys):
    """Two servers (the fleet tests need both), and an ssh_config that trusts exactly their host keys."""
    folder = tmp_path_factory.mktemp("sshd")
    started = [SshServer(folder / name, Path(str(keys["good"]) + ".pub")) for name in ("a", "b")]
    known = folder / "known_hosts"
    known.write_text("".join(s.known_hosts_line() for s in started))
    config = folder / "ssh_config"
    config.write_text(
        f"Host *\n  UserKnownHostsFile {known}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n"
    )
    yield {"a": started[0], "b": started[1], "config": config, "folder": folder}
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    return tiny_tflite_models(tmp_path_factory.getbasetemp() / "tiny-models")


@pytest.fixture(scope="module")
def other_formats(tmp_path_factory) -> dict[str, Path]:
    """The tiny classifier as .onnx and as OpenVINO IR (.xml + .bin): no TensorFlow needed."""
    onnx_path = tiny_onnx_model(tmp_path_factory.getbasetemp() / "tiny-onnx")
    return {"onnx": onnx_path, "openvino": tiny_openvino_model(onnx_path)}


def _address(server: SshServer) -> str:
    return f"{getpass.getuser()}@127.0.0.1:{server.port}"


def _profile(servers, keys, tmp_path, capsys, *extra: str, server="a", key="good", python=sys.executable):
    args = ["profile", "--host", _address(servers[server]), "--identity", str(keys[key])]
    args += ["--ssh-config", str(servers["config"]), "--remote-python", str(python), "--runs", "3"]
    args += ["--min-seconds", "0", "--warmup", "1", "--profiles-dir", str(tmp_path / "profiles"), "--json", *extra]
    code, out, err = run_cli(args, capsys)
    return code, (json.loads(out) if out.strip() else None), err


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert lines and "Traceback" not in err, err
    return lines[0]


def test_profile_over_ssh_then_cached(servers, keys, models, tmp_path, capsys):
    code, results, err = _profile(servers, keys, tmp_path, capsys, str(models["int8"]))
    assert code == 0, err
    (result,) = results
    assert result["status"] == "ok" and result["source"] == "measured"
    assert result["target"] == f"ssh-{os.uname().machine}", "an unknown remote is never filed under a board"
    assert result["host"]["ssh"] == _address(servers["a"]) and result["host"]["machine"] == os.uname().machine
    assert result["runtime"]["name"] == "litert" and result["runtime"]["version"] and result["runtime"]["threads"] == 1
    assert result["latency_ms"]["n"] == 3 and result["latency_ms"]["median"] > 0 and result["first_inference_ms"] > 0
    assert result["thermal"]["throttled"] is None and result["power"]["status"] == "absent"
    assert result["workstation"]["hostname"] and result["precision"] == "int8"
    saved = Path(result["saved_to"])
    assert saved.parent.name == result["target"] and json.loads(saved.read_text())["remote"]["copied"] is True
    cached = Path(result["remote"]["model_path"])
    assert cached.is_file() and cached.read_bytes() == models["int8"].read_bytes()
    assert cached.name == f"{result['artifact']['sha256']}.tflite"
    remote_cache = servers["a"].folder / "home" / ".cache" / "edgekit" / "remote"
    assert cached.parent.parent == remote_cache
    runner = remote_cache / result["remote"]["runner"] / "edgekit" / "device" / "runner.py"
    assert runner.is_file()
    stamp = cached.stat().st_mtime_ns

    code, results, err = _profile(servers, keys, tmp_path, capsys, str(models["int8"]))
    assert code == 0, err
    assert results[0]["remote"]["copied"] is False, "an unchanged artifact must not be copied again"
    assert cached.stat().st_mtime_ns == stamp

    args = ["profile", str(models["int8"]), "--host", _address(servers["a"]), "--identity", str(keys["good"])]
    args += ["--ssh-config", str(servers["config"]), "--remote-python", sys.executable, "--runs", "2", "--no-save"]
    code, out, err = run_cli(args, capsys)  # the table: one per target, the board named
    assert code == 0, err
    assert f"ssh-{os.uname().machine} (CPU)" in out and "board" in out and "127.0.0.1" in out and "measured" in out


def test_onnx_and_openvino_over_ssh(servers, keys, other_formats, tmp_path, capsys):
    """An .onnx file and an OpenVINO IR measured over SSH in one run: ONNX Runtime and OpenVINO on the remote, the
    .xml and its .bin in the content-addressed cache under one key; an x86 remote asserted as rpi5 is still exit 2."""
    import onnxruntime
    import openvino

    onnx_path, xml = other_formats["onnx"], other_formats["openvino"]
    code, results, err = _profile(servers, keys, tmp_path, capsys, str(onnx_path), str(xml), server="b")
    assert code == 0, err
    by_format = {r["format"]: r for r in results}
    assert set(by_format) == {"onnx", "openvino"}
    for result in results:
        assert result["status"] == "ok" and result["source"] == "measured", result.get("error")
        assert result["target"] == f"ssh-{os.uname().machine}" and result["latency_ms"]["n"] == 3
        assert Path(result["saved_to"]).parent.name == result["target"]
    onnx, ov = by_format["onnx"], by_format["openvino"]
    assert onnx["runtime"]["name"] == "onnxruntime" and onnx["runtime"]["version"] == onnxruntime.__version__
    assert onnx["runtime"]["providers"] == ["CPUExecutionProvider"] and onnx["runtime"]["threads"] == 1
    assert Path(onnx["remote"]["model_path"]).name == f"{onnx['artifact']['sha256']}.onnx"
    assert Path(onnx["remote"]["model_path"]).read_bytes() == onnx_path.read_bytes()
    assert ov["runtime"]["name"] == "openvino" and ov["runtime"]["device"] == "CPU"
    assert ov["runtime"]["execution_devices"] == ["CPU"] and openvino.__version__.startswith(ov["runtime"]["version"])
    cached_xml, cached_bin = Path(ov["remote"]["model_path"]), Path(ov["remote"]["weights_path"])
    weights = xml.with_suffix(".bin")
    assert cached_xml.read_bytes() == xml.read_bytes() and cached_bin.read_bytes() == weights.read_bytes()
    both = hashlib.sha256(xml.read_bytes()).hexdigest() + hashlib.sha256(weights.read_bytes()).hexdigest()
    assert cached_xml.stem == cached_bin.stem == hashlib.sha256(both.encode()).hexdigest(), "keyed by both files"
    assert ov["artifact"]["weights_sha256"] and onnx["output_sha256"] and ov["output_sha256"]

    code, _, err = _profile(servers, keys, tmp_path, capsys, str(onnx_path), "--target", "rpi5", server="b")
    assert code == 2 and "--target rpi5 but the remote is" in _one_error_line(err)


def test_target_mismatch_is_a_usage_error(servers, keys, models, tmp_path, capsys):
    code, _, err = _profile(servers, keys, tmp_path, capsys, str(models["int8"]), "--target", "rpi4")
    assert code == 2
    line = _one_error_line(err)
    assert "--target rpi4 but the remote is" in line and os.uname().machine in line
    assert not (tmp_path / "profiles").exists(), "nothing is measured or saved under the wrong target"


def test_connection_refused(servers, keys, models, tmp_path, capsys):
    args = ["profile", str(models["int8"]), "--host", f"{getpass.getuser()}@127.0.0.1:{_free_port()}"]
    args += ["--identity", str(keys["good"]), "--ssh-config", str(servers["config"]), "--json"]
    code, out, err = run_cli(args, capsys)
    assert code == 1 and "connection refused" in _one_error_line(err) and json.loads(out) == []


def test_wrong_key(servers, keys, models, tmp_path, capsys):
    code, _, err = _profile(servers, keys, tmp_path, capsys, str(models["int8"]), key="wrong")
    assert code == 1 and "authentication failed" in _one_error_line(err)


def test_unknown_host_key(servers, keys, models, tmp_path, capsys):
    config = tmp_path / "ssh_config"
    (tmp_path / "empty_known_hosts").write_text("")
    config.write_text(f"Host *\n  UserKnownHostsFile {tmp_path / 'empty_known_hosts'}\n  StrictHostKeyChecking yes\n")
    args = ["profile", str(models["int8"]), "--host", _address(servers["a"]), "--identity", str(keys["good"])]
    args += ["--ssh-config", str(config), "--remote-python", sys.executable]
    code, _, err = run_cli(args, capsys)
    assert code == 1 and "host key not verified" in _one_error_line(err)


def test_remote_without_runtime_gets_the_install_line(servers, keys, models, tmp_path, capsys):
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    python = bare / "bin" / "python"
    code, _, err = _profile(servers, keys, tmp_path, capsys, str(models["int8"]), python=python)
    assert code == 1
    line = _one_error_line(err)
    assert line.endswith(f"run there: {python} -m pip install numpy ai-edge-litert==2.3.0"), line


def _wrapper(tmp_path: Path, body: str) -> Path:
    """A stand-in board Python: runs body on `-m edgekit.device run`, else execs the real interpreter."""
    script = tmp_path / "python-wrapper"
    script.write_text(
        f'#!/bin/sh\ncase " $* " in *" -m edgekit.device run "*)\n{body}\n;;\nesac\nexec {sys.executable} "$@"\n'
    )
    script.chmod(0o755)
    return script


# Kill the SSH session this command runs in (the first sshd ancestor: the per-connection process, not the listener).
_DROP_LINK = """
  n=$(cat {count} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {count}
  if [ "$n" -ge 2 ]; then
    p=$$
    while [ "$p" -gt 1 ]; do
      case "$(cat /proc/$p/comm)" in sshd*) kill -9 "$p"; sleep 5; exit 1 ;; esac
      p=$(cut -d' ' -f4 /proc/$p/stat)
    done
  fi"""


def test_connection_killed_mid_run_keeps_what_was_measured(servers, keys, models, tmp_path, capsys):
    python = _wrapper(tmp_path, _DROP_LINK.format(count=tmp_path / "count"))
    code, results, err = _profile(
        servers, keys, tmp_path, capsys, str(models["int8"]), str(models["fp32"]), python=python
    )
    assert code == 1
    assert [r["status"] for r in results] == ["ok", "failed"]
    assert "dropped" in results[1]["error"] and "dropped" in _one_error_line(err)
    saved = sorted((tmp_path / "profiles").rglob("*.json"))
    assert len(saved) == 2 and {json.loads(p.read_text())["status"] for p in saved} == {"ok", "failed"}


def test_hanging_remote_times_out(servers, keys, models, tmp_path, capsys):
    python = _wrapper(tmp_path, "  exec sleep 300")
    start = time.monotonic()
    code, results, err = _profile(servers, keys, tmp_path, capsys, str(models["int8"]), "--timeout", "2", python=python)
    assert code == 1 and time.monotonic() - start < 30
    assert results[0]["status"] == "failed" and "timed out after 2 s" in results[0]["error"]
    assert "timed out" in _one_error_line(err)


def test_fleet_of_two_in_parallel_and_report(servers, keys, models, tmp_path, capsys):
    fleet = tmp_path / "fleet.toml"
    rows = [(name, _address(servers[name])) for name in ("a", "b")]
    fleet.write_text(
        "".join(
            f'[[host]]\nname = "board-{name}"\naddress = "{address}"\nidentity = "{keys["good"]}"\n'
            f'python = "{sys.executable}"\n\n'
            for name, address in rows
        )
    )
    args = ["profile", str(models["int8"]), "--hosts", str(fleet), "--ssh-config", str(servers["config"])]
    args += ["--runs", "1", "--warmup", "0", "--min-seconds", "1.5", "--profiles-dir", str(tmp_path / "p"), "--json"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    results = json.loads(out)
    assert sorted(r["host"]["ssh"] for r in results) == ["board-a", "board-b"]
    assert all(r["status"] == "ok" and r["timed_seconds"] >= 1.5 for r in results)
    first, second = (r["remote"] for r in results)
    assert max(first["started"], second["started"]) < min(first["finished"], second["finished"]), "not in parallel"

    code, out, err = run_cli(["report", "--profiles-dir", str(tmp_path / "p"), "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert [r["board"] for r in report] == ["board-a", "board-b"] and len({r["config"] for r in report}) == 2


def test_bad_host_specs_and_fleet_files(tmp_path, capsys, models):
    for spec in ("-oProxyCommand=x", "user@", "a b", "u@h:99999"):
        code, _, err = run_cli(["profile", str(models["int8"]), "--host", spec], capsys)
        assert code == 2 and "bad" in _one_error_line(err), spec
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[[host]]\nname = "x"\naddress = "pi@10.0.0.2"\ncolour = "red"\n')
    code, _, err = run_cli(["profile", str(models["int8"]), "--hosts", str(fleet)], capsys)
    assert code == 2 and "unknown key" in _one_error_line(err)
    code, _, err = run_cli(["profile", str(models["int8"]), "--identity", str(fleet)], capsys)
    assert code == 2 and "need --host" in _one_error_line(err)


def test_pinned_measurement_on_this_machine(models, tmp_path, capsys, monkeypatch):
    """--cpus without --host: the device runner here, pinned, filed under host (this machine is no board)."""
    monkeypatch.setenv("HOME", str(tmp_path))  # its runner cache: ~/.cache/edgekit/remote
    args = ["profile", str(models["int8"]), "--cpus", "0", "--runs", "2", "--min-seconds", "0", "--json"]
    code, out, err = run_cli([*args, "--profiles-dir", str(tmp_path / "p")], capsys)
    assert code == 0, err
    (result,) = json.loads(out)
    assert result["target"] == "host" and result["source"] == "measured" and result["cpus"] == [0]
    assert "ssh" not in result["host"] and Path(result["saved_to"]).parent.name == "host"
    assert result["remote"]["model_path"].startswith(str(tmp_path / ".cache" / "edgekit" / "remote"))
    code, _, err = run_cli([*args, "--target", "rpi4", "--no-save"], capsys)
    assert code == 2 and "--target rpi4: this machine is not one" in _one_error_line(err)


def test_power_cmd_is_sampled_during_the_remote_run(servers, keys, models, tmp_path, capsys):
    """--power-cmd with a stand-in meter (`echo 4.5 W`: no USB power meter here) sampled on this side."""
    code, results, err = _profile(
        servers, keys, tmp_path, capsys, str(models["int8"]), "--power-cmd", "echo 4.5 W", "--min-seconds", "1"
    )
    assert code == 0, err
    (result,) = results
    power = result["power"]
    assert power["method"] == "power-cmd" and power["source"] == "measured" and power["samples"] >= 2
    assert power["idle_w"] == 4.5 and power["active_w"] == 4.5 and result["power_w"] == 4.5
    per_inference = 4.5 * result["timed_seconds"] / result["latency_ms"]["n"] * 1000
    assert result["energy_mj"] == pytest.approx(per_inference, rel=1e-3)


# What the probe prints on each kind of board (the fields edgekit reads; device-tree strings as the boards report them).
PI4 = {"board": "Raspberry Pi 4 Model B Rev 1.4", "cpu_part": "0xd08", "machine": "aarch64", "os": "Debian 12"}
PI5 = {"board": "Raspberry Pi 5 Model B Rev 1.0", "cpu_part": "0xd0b", "machine": "aarch64", "os": "Debian 12"}
DEVBOARD = {"board": "Freescale i.MX8MQ Phanbell", "machine": "aarch64", "edgetpu_pcie": True}
X86 = {"board": None, "cpu": "Intel(R) Xeon(R)", "machine": "x86_64", "os": "Debian 12"}


def test_target_detection_from_what_the_remote_reports():
    from edgekit.hardware.boards import detect_targets
    from edgekit.measure.probe import choose_target
    from edgekit.measure.ssh import Host

    assert detect_targets(PI4) == ["rpi4"] and detect_targets(PI5) == ["rpi5"]
    assert detect_targets({**PI4, "edgetpu_usb": True}) == ["rpi4", "coral-usb"]
    assert detect_targets(DEVBOARD) == ["coral-devboard"]
    assert detect_targets(X86) == [], "the host target ('always') describes this machine, never a remote"
    assert choose_target(Host("pi", "10.0.0.2"), PI4) == "rpi4"
    assert choose_target(Host("pi", "10.0.0.2", target="coral-usb"), {**PI4, "edgetpu_usb": True}) == "coral-usb"
    assert choose_target(Host("box", "10.0.0.3"), X86) == "ssh-x86_64"
    with pytest.raises(Exception, match="--target rpi5 but the remote is Raspberry Pi 4"):
        choose_target(Host("pi", "10.0.0.2", target="rpi5"), PI4)


def test_install_line_fits_the_remote_python():
    from edgekit.measure.probe import install_line

    mendel = {"python": "3.7.3", "executable": "/usr/bin/python3", "modules": {"numpy": True}}
    assert install_line(mendel) == "/usr/bin/python3 -m pip install tflite-runtime"
    bare = {"python": "3.11.2", "executable": "/usr/bin/python3", "modules": {}}
    assert install_line(bare) == "/usr/bin/python3 -m pip install numpy ai-edge-litert==2.3.0"
    assert install_line({**bare, "modules": {"numpy": True, "tflite_runtime": True}}) is None


def test_install_line_names_the_runtime_of_each_format():
    from edgekit.measure.probe import install_line

    pi = {"python": "3.11.2", "executable": "/usr/bin/python3", "modules": {"numpy": True, "ai_edge_litert": True}}
    assert install_line(pi, ("onnx",)) == "/usr/bin/python3 -m pip install onnxruntime==1.32.0"
    assert install_line(pi, ("openvino", "tflite")) == "/usr/bin/python3 -m pip install openvino==2026.4.1"
    assert install_line(pi, ("tflite",)) is None
    bare = {**pi, "modules": {}}
    assert install_line(bare, ("onnx", "tflite")) == (
        "/usr/bin/python3 -m pip install numpy ai-edge-litert==2.3.0 onnxruntime==1.32.0"
    )
    assert install_line({**pi, "modules": {"numpy": True, "onnxruntime": True}}, ("onnx",)) is None


def test_onnx_measured_on_a_pi5_is_filed_under_rpi5(other_formats):
    """The Pi 5 remote (recorded probe fields: no Pi here) asserted as rpi5: the device runner's real ONNX Runtime
    JSON (run on this machine) becomes a measured result filed under rpi5, as a .tflite one is; an x86 remote
    asserted as rpi5 is a usage error (exit 2)."""
    from edgekit.errors import UsageError
    from edgekit.measure.probe import choose_target
    from edgekit.measure.remote import HostPlan, to_result
    from edgekit.measure.ssh import Host
    from edgekit.stages.fleet import remote_artifacts
    from edgekit.stages.profile import ProfileRequest

    (art,) = remote_artifacts(ProfileRequest(items=[str(other_formats["onnx"])]))
    assert art.format == "onnx"
    host = Host("pi5", "10.0.0.21", target="rpi5")
    plan = HostPlan(host, None, PI5, choose_target(host, PI5), None)
    proc = subprocess.run(
        [sys.executable, "-m", "edgekit.device", "run", str(art.path), "--json", "--runs", "2"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    result = to_result(json.loads(proc.stdout), art, plan, "0" * 64, {"name": "pi5"})
    assert result["target"] == "rpi5" and result["source"] == "measured" and result["status"] == "ok"
    assert result["format"] == "onnx" and result["runtime"]["name"] == "onnxruntime" and result["host"]["ssh"] == "pi5"
    with pytest.raises(UsageError, match="--target rpi5 but the remote is"):
        choose_target(host, X86)


def test_measured_sits_beside_the_prediction(models):
    from edgekit.stages.vs_predicted import attach_prediction

    measured = {"target": "rpi4", "source": "measured", "latency_ms": {"median": 2.0}, "runtime": {"threads": 1}}
    attach_prediction(measured, models["int8"])
    predicted = measured["predicted"]
    assert predicted["source"] == "predicted" and predicted["latency_ms"]["median"] > 0
    assert measured["measured_over_predicted"] == pytest.approx(2.0 / predicted["latency_ms"]["median"], rel=1e-3)
    unknown = {"target": "ssh-x86_64", "source": "measured", "latency_ms": {"median": 2.0}}
    assert "predicted" not in attach_prediction(unknown, models["int8"]), "no cost model for an unknown machine"


@pytest.mark.arm
def test_remote_whose_python_is_the_emulated_pi(servers, keys, models, tmp_path, capsys):
    """The remote's Python is the emulated arm64 userland's (QEMU, Cortex-A72): the result records aarch64 and is
    filed as ssh-aarch64, not rpi4 (no device tree says Raspberry Pi: it is not one)."""
    try:
        from tests._emulated_python import emulated_python, tools_missing
    except ImportError:
        from _emulated_python import emulated_python, tools_missing
    from edgekit.emulate import setup_emulator

    missing = tools_missing()
    if missing and os.environ.get("EDGEKIT_REQUIRE_ARM") != "1":
        pytest.skip(f"{', '.join(missing)} missing")
    python = emulated_python(setup_emulator(runtime="litert"), tmp_path)
    artifact = str(models["int8"])
    code, results, err = _profile(servers, keys, tmp_path, capsys, artifact, "--timeout", "300", python=python)
    assert code == 0, err
    (result,) = results
    assert result["status"] == "ok" and result["machine"] == "aarch64" and result["target"] == "ssh-aarch64"
    assert result["host"]["cpu_part"] == "0xd08" and result["runtime"]["name"] == "litert"
    assert result["remote"]["python"].endswith("/usr/bin/python3")


def test_npu_only_when_listed_and_never_a_fallback(models, tmp_path):
    """No Intel NPU here: device choice and the execution check run on device lists as OpenVINO reports them, and a
    real OpenVINO run on this machine says clearly that there is no NPU."""
    from edgekit.measure.npu import NpuUnavailable, check_execution, choose_device, measure_npu

    assert choose_device(["CPU", "GPU", "NPU"]) == "NPU"
    for available in (["CPU"], ["CPU", "GPU"], []):
        with pytest.raises(NpuUnavailable, match="lists no NPU"):
            choose_device(available)
    check_execution(["NPU"])
    for devices in (["CPU"], ["NPU", "CPU"], []):
        with pytest.raises(NpuUnavailable, match="refusing"):
            check_execution(devices)
    import openvino as ov

    if "NPU" in ov.Core().available_devices:
        pytest.skip("this machine has an NPU")
    xml = tmp_path / "tiny.xml"
    ov.save_model(ov.convert_model(str(models["fp32"])), str(xml))
    with pytest.raises(NpuUnavailable, match="OpenVINO lists no NPU here"):
        measure_npu(xml, runs=1, warmup=0, min_seconds=0, timeout=120)


def test_the_readme_fleet_example_loads(tmp_path):
    from edgekit.measure.ssh import load_hosts

    readme = (Path(__file__).resolve().parents[1] / "docs" / "boards.md").read_text()
    example = readme.split("# fleet.toml", 1)[1].split("\n", 1)[1].split("```", 1)[0]
    (tmp_path / "fleet.toml").write_text(example)
    pi4, pi5 = load_hosts(tmp_path / "fleet.toml")
    assert (pi4.name, pi4.user, pi4.address, pi4.port, pi4.target) == ("pi4-desk", "pi", "192.168.1.20", None, "rpi4")
    assert pi4.identity == tmp_path / "keys" / "id_ed25519" and pi5.port == 2222 and pi5.python.endswith("/python")


@pytest.mark.parametrize("what", ["keras file", "zoo model"])
def test_a_keras_file_or_model_name_is_exported_then_measured_over_ssh(
    what, servers, keys, trained_keras, tmp_path, capsys
):
    """`profile MY.keras --host ...` (or a model name): exported here first (INT8 TFLite, into --out), then measured
    on the remote, as `--target host` does for this machine."""
    out = tmp_path / "exports"
    item = [str(trained_keras)] if what == "keras file" else ["squeezenet", "--input-size", "32"]
    code, results, err = _profile(servers, keys, tmp_path, capsys, *item, "--out", str(out))
    assert code == 0, err
    (result,) = results
    assert result["status"] == "ok" and result["source"] == "measured"
    assert result["format"] == "tflite" and result["precision"] == "int8"
    exported = Path(result["artifact"]["path"])
    assert exported.is_file() and out in exported.parents
    assert Path(result["remote"]["model_path"]).read_bytes() == exported.read_bytes()
