"""Profile result files: save (atomic, flat path), load (schema-checked), report rows, CSV and Markdown."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from edgekit.errors import EdgekitError, UsageError
from edgekit.results.record import REQUIRED_KEYS, base_result, validate_result
from edgekit.results.store import (
    latest_per_config,
    load_results,
    load_results_with_problems,
    migrate_results,
    result_config,
    result_path,
    save_result,
)
from edgekit.results.table import REPORT_COLUMNS, report, result_rows_for_table, table_columns


def _measured(model: str = "mobilenetv2", fmt: str = "onnx", precision: str = "fp32", median: float = 4.2) -> dict:
    result = base_result("host", model, fmt, precision, "measured")
    result.update(
        latency_ms={"median": median, "p90": median * 1.1, "p99": median * 1.3, "std": 0.1, "n": 50},
        size_bytes=14_000_000,
        peak_memory_bytes=120_000_000,
        runtime={"name": "onnxruntime", "version": "1.32.0", "threads": 1, "device": "CPU"},
        layers=[{"name": "conv1", "op": "Conv", "time_ms": 1.0, "percent": 25.0}],
        artifact={"path": f"edgekit-out/{model}/{fmt}-{precision}/model.{fmt}", "sha256": "0" * 64},
        load_ms=50.0,
        first_inference_ms=9.0,
        throughput_ips=1000 / median,
    )
    return result


def test_base_result_has_every_contract_key():
    result = base_result("rpi4", "resnet50", "tflite", "int8", "predicted")
    assert list(result)[: len(REQUIRED_KEYS)] == list(REQUIRED_KEYS)
    assert result["power_w"] is None and result["energy_mj"] is None  # unknown, never invented
    assert result["date"].endswith("Z") and validate_result(result) == []
    with pytest.raises(ValueError):
        base_result("host", "m", "onnx", "fp32", "guessed")


def test_save_load_round_trip(tmp_path):
    result = _measured()
    path = save_result(result, tmp_path)
    assert path == result_path(result, tmp_path) and path.parent == tmp_path / "host"
    assert re.fullmatch(r"mobilenetv2__onnx-fp32__[0-9a-f]{10}\.json", path.name)
    saved = json.loads(path.read_text())
    assert saved == {**result, "config": result_config(result), "config_id": path.name[-15:-5]}
    assert saved["config"]["input_size"] is None and saved["config"]["threads"] == 1
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # atomic write leaves no temp file
    # Saving the same configuration again replaces the file (git history is the history).
    save_result(_measured(median=5.0), tmp_path)
    loaded = load_results(tmp_path)
    assert len(loaded) == 1 and loaded[0]["latency_ms"]["median"] == 5.0


def test_failed_result_is_saved_with_status_and_error(tmp_path):
    failed = _measured(fmt="tflite", precision="int8")
    failed.update(status="failed", error="model.tflite: the runtime crashed with SIGSEGV (signal 11)", latency_ms=None)
    path = save_result(failed, tmp_path)
    assert path.parent == tmp_path / "host" / "failed"  # kept apart from the results
    assert load_results(tmp_path, target="host") == []
    (loaded,) = load_results(tmp_path, target="host", failed=True)
    assert loaded["status"] == "failed" and "SIGSEGV" in loaded["error"] and path.exists()
    failed_without_error = dict(failed, error=None)
    with pytest.raises(EdgekitError, match="needs an 'error'"):
        save_result(failed_without_error, tmp_path)


def test_unsafe_names_stay_inside_root(tmp_path):
    result = _measured(model="../evil/name")
    path = save_result(result, tmp_path)
    assert path.resolve().is_relative_to(tmp_path.resolve()) and "/" not in path.name


def test_bad_files_are_reported_not_fatal(tmp_path, capsys):
    save_result(_measured(), tmp_path)
    folder = tmp_path / "host"
    (folder / "broken.json").write_text("{not json")
    (folder / "missing.json").write_text(json.dumps({"target": "host", "model": "x"}))
    (folder / "badsource.json").write_text(json.dumps(dict(_measured(), source="guessed")))
    results, problems = load_results_with_problems(tmp_path)
    assert len(results) == 1 and len(problems) == 3
    assert any("missing key 'latency_ms'" in p for p in problems)
    assert len(load_results(tmp_path)) == 1
    assert "skipping" in capsys.readouterr().err


def test_report_rows_csv_markdown(tmp_path):
    save_result(_measured("mobilenetv2", "onnx", "fp32", 4.2), tmp_path)
    save_result(_measured("mobilenetv2", "tflite", "int8", 2.1), tmp_path)
    predicted = base_result("rpi4", "mobilenetv2", "tflite", "int8", "predicted")
    predicted.update(latency_ms={"median": 30.0, "low": 20.0, "high": 45.0}, size_bytes=3_500_000)
    save_result(predicted, tmp_path)
    failed = dict(_measured("resnet50", "openvino", "fp32"), status="failed", error="timed out after 600 s")
    save_result(failed, tmp_path)

    csv_path, md_path = tmp_path / "out" / "report.csv", tmp_path / "out" / "report.md"
    rows = report(tmp_path, csv_path=csv_path, markdown_path=md_path)
    assert len(rows) == 3 and all(tuple(row) == REPORT_COLUMNS for row in rows)  # the failed run only when asked
    by_key = {(r["target"], r["format"], r["model"]): r for r in rows}
    onnx = by_key[("host", "onnx", "mobilenetv2")]
    assert onnx["median ms"] == 4.2 and onnx["p90"] == 4.62 and onnx["size MB"] == 14.0 and onnx["peak MB"] == 120.0
    assert onnx["runtime"] == "onnxruntime 1.32.0" and onnx["threads"] == 1 and onnx["status"] == "ok"
    rpi = by_key[("rpi4", "tflite", "mobilenetv2")]
    assert rpi["source"] == "predicted" and rpi["median ms"] == 30.0 and rpi["p90"] is None
    assert (rpi["low ms"], rpi["high ms"]) == (20.0, 45.0)
    (failed_row,) = report(tmp_path, failed=True)
    assert failed_row["model"] == "resnet50" and failed_row["status"].startswith("failed: timed out")

    with open(csv_path, newline="") as f:
        csv_rows = list(csv.DictReader(f))
    assert tuple(csv_rows[0]) == REPORT_COLUMNS and len(csv_rows) == 3
    markdown = md_path.read_text().splitlines()
    columns = table_columns(rows)
    assert markdown[0] == "| " + " | ".join(columns) + " |" and len(markdown) == 5
    assert "band ms" in columns and "20.00-45.00" in md_path.read_text()

    only_rpi = report(tmp_path, target="rpi4")
    assert [r["target"] for r in only_rpi] == ["rpi4"]


def test_result_rows_for_table():
    columns, rows = result_rows_for_table([_measured("b", median=1.0), _measured("a", median=2.0)])
    assert columns[:4] == ["target", "model", "format", "precision"] and "config" not in columns
    assert [row[1] for row in rows] == ["a", "b"]  # sorted by target, model, ...
    assert all(isinstance(cell, str) for row in rows for cell in row)
    assert len(rows[0][columns.index("date")]) == 10  # the day only


def test_report_of_a_missing_root_is_a_usage_error(tmp_path: Path):
    with pytest.raises(UsageError, match="no profiles folder"):
        report(tmp_path / "none")
    assert report(tmp_path) == []  # an empty folder is no error: nothing profiled yet


@pytest.mark.parametrize(
    "change",
    [
        {"input_size": 160},
        {"alpha": 0.5},
        {"runtime": {"name": "onnxruntime", "version": "1.32.0", "threads": 4, "device": "CPU"}},
        {"runtime": {"name": "onnxruntime", "version": "1.31.0", "threads": 1, "device": "CPU"}},
        {"host": {"hostname": "other-box"}},
        {"link": "usb2"},
        {"source": "predicted"},
        {"source": "emulated"},
    ],
    ids=["input", "width", "threads", "runtime-version", "host", "link", "predicted", "emulated"],
)
def test_different_configurations_never_overwrite(change, tmp_path):
    first = dict(_measured(), input_size=224)
    second = {**first, **change}
    a, b = save_result(first, tmp_path), save_result(second, tmp_path)
    assert a != b and a.exists() and b.exists()
    rows = report(tmp_path)
    assert len(rows) == 2 and len({r["config"] for r in rows}) == 2


def test_report_shows_the_latest_per_configuration_and_reads_old_names(tmp_path):
    old = dict(_measured(median=9.0), date="2026-01-01T00:00:00Z")
    folder = tmp_path / "host"
    folder.mkdir()
    (folder / "mobilenetv2__onnx-fp32.json").write_text(json.dumps(old))  # the naming before configurations
    assert [r["median ms"] for r in report(tmp_path)] == [9.0]
    save_result(dict(_measured(median=4.0), date="2026-02-01T00:00:00Z"), tmp_path)  # same configuration, newer
    assert len(load_results(tmp_path)) == 2 and [r["median ms"] for r in report(tmp_path)] == [4.0]
    assert len(latest_per_config(load_results(tmp_path))) == 1


def test_migrate_renames_old_files_and_keeps_the_newest(tmp_path):
    folder = tmp_path / "host"
    folder.mkdir()
    (folder / "mobilenetv2__onnx-fp32.json").write_text(json.dumps(dict(_measured(median=9.0), date="2026-01-01")))
    (folder / "resnet50__onnx-fp32.json").write_text(json.dumps(_measured("resnet50", median=7.0)))
    (folder / "broken.json").write_text("{not json")
    newer = save_result(dict(_measured(median=4.0), date="2026-02-01"), tmp_path)
    moved = migrate_results(tmp_path)
    assert sorted(old.name for old, _ in moved) == ["mobilenetv2__onnx-fp32.json", "resnet50__onnx-fp32.json"]
    names = sorted(p.name for p in folder.iterdir())
    assert "broken.json" in names and len(names) == 3  # never deletes what it cannot read
    assert json.loads(newer.read_text())["latency_ms"]["median"] == 4.0
    assert migrate_results(tmp_path) == []  # idempotent


def test_hidden_temp_files_are_not_results(tmp_path):
    path = save_result(_measured(), tmp_path)
    (path.parent / f".{path.name}.tmp-1-abc.json").write_text(path.read_text())  # a writer killed before its rename
    assert len(load_results(tmp_path)) == 1
