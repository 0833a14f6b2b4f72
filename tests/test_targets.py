"""Target registry: every targets/*.toml validates; broken files name the file and the field."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.errors import UsageError
from edgekit.exporting.formats import format_names
from edgekit.hardware.targets import (
    PRECISIONS,
    get_target,
    load_targets,
    parse_target,
    target_rows,
    targets_dir,
)

TARGET_FILES = sorted(targets_dir().glob("*.toml"))
TARGET_IDS = [p.stem for p in TARGET_FILES]


def test_the_issue_targets_exist():
    assert {"host", "rpi4", "rpi5", "coral-usb", "coral-devboard", "intel-npu", "intel-npu-lnl"} <= set(TARGET_IDS)


@pytest.mark.parametrize("target_id", TARGET_IDS)
def test_target_file_is_valid(target_id):
    target = load_targets()[target_id]
    assert target.id == target_id and target.file.endswith(f"{target_id}.toml")
    assert set(target.runtime.formats) <= set(format_names()) and set(target.runtime.precisions) <= set(PRECISIONS)
    assert target.runtime.version and target.cpu_cost.fitted
    assert target.cpu.cores >= 1 and target.cpu.clock_ghz > 0 and target.cpu.memory_bandwidth_gbs > 0
    assert target.uncertainty >= 1
    if target.kind == "cpu":
        assert target.accelerator is None
    else:
        assert target.accelerator is not None and target.accelerator_cost is not None
        assert target.accelerator.peak_int8_tops > 0
    if target.power is not None:
        assert target.power.active_w > (target.power.idle_w or 0)
    json.dumps(target.summary())


@pytest.mark.parametrize("target_id", TARGET_IDS)
def test_every_fact_has_a_source(target_id):
    target = load_targets()[target_id]
    for spec in (target.cpu, target.accelerator, target.power):
        if spec is None:
            continue
        named = {name.strip() for key in spec.sources for name in key.split(",")}
        facts = {f for f in spec.__dataclass_fields__ if f not in ("sources", "scope", "name", "kind")}
        assert {f for f in facts if getattr(spec, f) is not None} <= named


def _broken_copy(tmp_path: Path, target_id: str, edit) -> Path:
    folder = tmp_path / "targets"
    folder.mkdir()
    src = targets_dir() / f"{target_id}.toml"
    text = edit(src.read_text())
    (folder / src.name).write_text(text)
    return folder


BREAKAGES = {
    # name: (edit of the file text, field the error must name)
    "missing": (lambda t: re.sub(r"(?m)^cores = .*\n", "", t, count=1), "cpu.cores"),
    "mistyped": (lambda t: re.sub(r"(?m)^clock_ghz = .*$", 'clock_ghz = "fast"', t, count=1), "cpu.clock_ghz"),
    "unknown": (lambda t: t.replace("[cpu]\n", "[cpu]\nturbo_boost = 1\n", 1), "cpu.turbo_boost"),
    "bad_choice": (lambda t: re.sub(r"(?m)^reach = .*$", 'reach = "carrier-pigeon"', t, count=1), "reach"),
    "no_source": (
        lambda t: re.sub(r"(?m)^(memory_bandwidth_gbs|\"[^\"]*memory_bandwidth_gbs[^\"]*\") = \".*\"\n", "", t),
        "cpu.sources",
    ),  # fmt: skip
}


@pytest.mark.parametrize("target_id", TARGET_IDS)
@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_broken_target_file_names_file_and_field(tmp_path, target_id, breakage):
    edit, field = BREAKAGES[breakage]
    folder = _broken_copy(tmp_path, target_id, edit)
    with pytest.raises(UsageError) as info:
        load_targets(folder)
    message = info.value.message
    assert f"{target_id}.toml" in message and f"'{field}" in message, message
    assert info.value.exit_code == 2


def test_id_must_match_file_name(tmp_path):
    folder = _broken_copy(tmp_path, "rpi4", lambda t: t.replace('id = "rpi4"', 'id = "rpi9"'))
    with pytest.raises(UsageError, match="rpi9"):
        load_targets(folder)


def test_invalid_toml_is_a_usage_error(tmp_path):
    folder = _broken_copy(tmp_path, "rpi4", lambda t: t + "\n[[[\n")
    with pytest.raises(UsageError, match="not valid TOML"):
        load_targets(folder)


def test_parse_target_reports_nested_type_errors():
    import tomllib

    data = tomllib.loads((targets_dir() / "rpi4.toml").read_text())
    data["cpu"] = []
    with pytest.raises(UsageError, match=r"inline.toml: field 'cpu' must be a table"):
        parse_target(data, "inline.toml")
    data["cpu"] = {**tomllib.loads((targets_dir() / "rpi4.toml").read_text())["cpu"], "features": ["neon", "mmx"]}
    with pytest.raises(UsageError, match=r"field 'cpu.features' 'mmx' is not one of"):
        parse_target(data, "inline.toml")


def test_unknown_target_did_you_mean():
    with pytest.raises(UsageError, match=r"unknown target 'rpi4b'; did you mean rpi4\?"):
        get_target("rpi4b")
    with pytest.raises(UsageError, match="did you mean coral-usb"):
        get_target("coral-ubs")


def test_targets_dir_override(tmp_path, monkeypatch):
    folder = tmp_path / "only"
    folder.mkdir()
    shutil.copy(targets_dir() / "rpi5.toml", folder)
    monkeypatch.setenv("EDGEKIT_TARGETS_DIR", str(folder))
    assert targets_dir() == folder
    assert list(load_targets()) == ["rpi5"]
    with pytest.raises(UsageError, match="unknown target 'rpi4'"):
        get_target("rpi4")


def test_host_facts_are_read_at_run_time():
    host = get_target("host")
    assert host.cpu.cores == os.cpu_count()
    assert host.cpu.model not in ("auto", "") and host.cpu.fp32_macs_per_cycle > 0
    assert all(v.startswith("read at run time") for k, v in host.cpu.sources.items() if k == "cores")
    assert host.is_this_machine()


def test_device_tree_detection(monkeypatch):
    from edgekit.hardware import host as t

    monkeypatch.setattr(t, "device_tree_model", lambda: "Raspberry Pi 4 Model B Rev 1.4")
    assert get_target("rpi4").is_this_machine() and not get_target("rpi5").is_this_machine()
    monkeypatch.setattr(t, "device_tree_model", lambda: "Raspberry Pi 5 Model B Rev 1.0")
    assert get_target("rpi5").is_this_machine() and not get_target("rpi4").is_this_machine()
    monkeypatch.setattr(t, "device_tree_model", lambda: "Raspberry Pi Compute Module 4 Rev 1.1")
    assert not get_target("rpi4").is_this_machine()


def test_edgetpu_usb_detection(monkeypatch):
    from edgekit.hardware import host as t

    monkeypatch.setattr(t, "usb_ids", lambda: {"18d1:9302"})
    assert get_target("coral-usb").is_this_machine()
    monkeypatch.setattr(t, "usb_ids", lambda: {"1d6b:0002"})
    assert not get_target("coral-usb").is_this_machine()


def test_cpu_features_vocabulary():
    from edgekit.hardware.host import cpu_features

    pi5 = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp asimddp\n"
    assert cpu_features(pi5) == ["neon", "dotprod", "fp16"]
    x86 = "flags\t\t: fpu sse avx2 avx512f avx512_vnni amx_int8\n"
    assert cpu_features(x86) == ["avx2", "avx512", "vnni", "amx"]


def test_host_probing_fills_cpu_fields_only():
    """edgekit.hardware.host reads the machine; every fact it offers is a CpuSpec field "auto" may stand for."""
    import dataclasses

    from edgekit.hardware.host import detect_cpu
    from edgekit.hardware.targets import CpuSpec

    facts = detect_cpu()
    assert set(facts) <= {f.name for f in dataclasses.fields(CpuSpec)}
    assert facts["cores"][0] == os.cpu_count() and all(source for _, source in facts.values())


def _package_of(module: str) -> str:
    """edgekit.measure.host -> edgekit.measure; a package (edgekit.exporting.formats) is its own."""
    root = Path(__file__).resolve().parent.parent
    is_package = (root / module.replace(".", "/") / "__init__.py").is_file()
    return module if is_package else module.rpartition(".")[0]


def test_no_private_names_imported_across_packages():
    """Private helpers stay inside their package (edgekit.costmodel once imported targets._cpuinfo)."""
    import ast

    root = Path(__file__).resolve().parent.parent
    crossing = []
    for path in sorted((root / "edgekit").rglob("*.py")):
        module = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith("edgekit"):
                continue
            private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
            if private and _package_of(node.module) != _package_of(module):
                crossing.append(f"{module}: from {node.module} import {', '.join(private)}")
    assert not crossing, crossing


def test_target_rows_for_the_cli():
    columns, rows, records = target_rows(detect=False)
    assert len(rows) == len(records) == len(TARGET_IDS)
    assert all(len(r) == len(columns) for r in rows)
    assert {r["id"] for r in records} == set(TARGET_IDS)
    json.dumps(records)


def test_import_stays_light():
    from conftest import HEAVY, imported_after

    loaded = imported_after(
        "import edgekit.hardware.targets, edgekit.hardware.host, edgekit.analyze, edgekit.analyze.edgetpu, "
        "edgekit.analyze.npu, edgekit.costmodel.predict, edgekit.exporting.formats"
    )
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_the_wheel_ships_every_target_file(tmp_path):
    """A non-editable install finds its targets: setup.py copies targets/*.toml into edgekit/targets/."""
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), "."]
    subprocess.run(cmd, cwd=root, check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("edgekit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {n.rsplit("/", 1)[-1] for n in names if n.startswith("edgekit/targets/")}
    assert shipped == {p.name for p in (root / "targets").glob("*.toml")}
    # and what `edgekit fit` reads at run time (it never reads benchmarks/)
    data = root / "edgekit" / "costmodel" / "data"
    want = {p.relative_to(root).as_posix() for p in data.rglob("*") if p.is_file()}
    assert want and want <= set(names), sorted(want - set(names))
    # And the package data beyond the targets: the QEMU plugin's C source, compiled on first use (edgekit.emulate).
    assert "edgekit/emulate/insn_count.c" in zipfile.ZipFile(wheel).namelist()
