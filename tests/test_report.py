"""`edgekit report`: the prediction band, the configuration columns that tell results apart, measured/predicted where
both exist for one artifact, target and configuration, and failed runs only with --failed."""

from __future__ import annotations

import json

from conftest import run_cli

from edgekit.results.record import base_result
from edgekit.results.store import save_result
from edgekit.results.table import report, report_table

SHA = "a" * 64


def _result(target: str, source: str, median: float, threads: int = 4, sha: str = SHA, **extra) -> dict:
    result = base_result(target, "mobilenetv2", "tflite", "int8", source)
    latency = {"median": median, "p90": median * 1.1} if source == "measured" else {}
    if source == "predicted":
        latency = {"median": median, "low": median / 1.5, "high": median * 1.5}
    name = "litert" if source == "measured" else "litert-xnnpack"
    result.update(
        latency_ms=latency,
        runtime={"name": name, "version": "2.3.0", "threads": threads, "device": "CPU"},
        artifact={"path": "edgekit-out/mobilenetv2/tflite-int8/model.tflite", "sha256": sha},
        size_bytes=4_000_000,
        **extra,
    )
    return result


def _table(root, failed: bool = False) -> dict[str, list[str]]:
    columns, rows = report_table(report(root, failed=failed), failed)
    return {c: [row[i] for row in rows] for i, c in enumerate(columns)}


def test_predicted_rows_show_their_band(tmp_path):
    save_result(_result("rpi4", "predicted", 30.0), tmp_path)
    (row,) = report(tmp_path)
    assert (row["median ms"], row["low ms"], row["high ms"]) == (30.0, 20.0, 45.0)
    assert _table(tmp_path)["band ms"] == ["20.00-45.00"]


def test_columns_tell_two_results_of_one_artifact_apart(tmp_path):
    """Two rpi4 predictions of one artifact (the issue's 17.0 and 15.6 ms): the column that differs is shown."""
    save_result(_result("rpi4", "predicted", 17.0, threads=4), tmp_path)
    save_result(_result("rpi4", "predicted", 15.6, threads=4, link="usb3"), tmp_path)
    table = _table(tmp_path)
    assert sorted(table["median ms"]) == ["15.6", "17.0"] and sorted(table["link"]) == ["", "usb3"]
    assert "host" not in table and "width" not in table  # the same on every row: left out of the console table
    for column in ("runtime", "threads", "input", "source", "precision"):
        assert column in table
    rows = report(tmp_path)  # --json keeps every column, alike or not
    assert all({"link", "host", "width", "config", "low ms", "high ms", "vs predicted"} <= row.keys() for row in rows)


def test_measured_over_predicted_pairs_one_artifact_target_and_configuration(tmp_path):
    save_result(_result("rpi4", "measured", 34.0, host={"hostname": "pi", "ssh": "pi"}), tmp_path)
    save_result(_result("rpi4", "predicted", 17.0), tmp_path)
    save_result(_result("rpi4", "measured", 50.0, threads=1, host={"hostname": "pi", "ssh": "pi"}), tmp_path)
    other = _result("rpi4", "measured", 9.0, sha="b" * 64, input_size=160, host={"hostname": "pi", "ssh": "pi"})
    save_result(other, tmp_path)
    ratios = {(r["median ms"], r["threads"]): r["vs predicted"] for r in report(tmp_path)}
    assert ratios[(34.0, 4)] == 2.0  # measured 34 ms against the 17 ms prediction of the same file, 4 threads
    assert ratios[(50.0, 1)] is None  # no prediction for 1 thread
    assert ratios[(9.0, 4)] is None  # another file
    assert ratios[(17.0, 4)] is None  # the prediction itself
    assert "2.00x" in _table(tmp_path)["vs predicted"]


def test_throughput_mode_is_another_configuration(tmp_path):
    """A throughput-mode measurement is not paired with a latency prediction, and the table shows the mode."""
    save_result(_result("rpi4", "measured", 34.0, mode="throughput"), tmp_path)
    save_result(_result("rpi4", "predicted", 17.0), tmp_path)
    assert all(r["vs predicted"] is None for r in report(tmp_path))
    assert sorted(_table(tmp_path)["mode"]) == ["latency", "throughput"]


def test_a_ratio_carried_by_the_result_wins(tmp_path):
    save_result(_result("rpi4", "measured", 34.0, measured_over_predicted=1.8), tmp_path)
    save_result(_result("rpi4", "predicted", 17.0), tmp_path)
    assert [r["vs predicted"] for r in report(tmp_path) if r["source"] == "measured"] == [1.8]


def test_failed_runs_are_kept_apart_and_shown_only_when_asked(tmp_path, capsys):
    good = _result("host", "measured", 3.0, threads=1)
    save_result(good, tmp_path)
    failed = dict(good, status="failed", error="model.tflite: the runtime crashed with SIGSEGV", latency_ms=None)
    path = save_result(failed, tmp_path)
    assert path.parent == tmp_path / "host" / "failed"
    assert len(list((tmp_path / "host").glob("*.json"))) == 1  # the good result is kept, not replaced

    code, out, err = run_cli(["report", "--profiles", str(tmp_path), "--json"], capsys)
    assert code == 0, err
    assert [r["status"] for r in json.loads(out)] == ["ok"]
    code, out, err = run_cli(["report", "--profiles", str(tmp_path), "--failed", "--json"], capsys)
    assert code == 0, err
    (row,) = json.loads(out)
    assert row["status"].startswith("failed: ") and "SIGSEGV" in row["status"]
    code, out, _ = run_cli(["report", "--profiles", str(tmp_path), "--failed"], capsys)
    assert code == 0 and "SIGSEGV" in out and "status" in out
    code, out, _ = run_cli(["report", "--profiles", str(tmp_path)], capsys)
    assert code == 0 and "SIGSEGV" not in out


def test_old_failed_files_beside_results_are_hidden_too(tmp_path):
    """A failed result saved beside the good ones by an older edgekit is a failed run, not a result."""
    failed = dict(_result("host", "measured", 3.0), status="failed", error="timed out", latency_ms=None)
    folder = tmp_path / "host"
    folder.mkdir()
    (folder / "mobilenetv2__tflite-int8.json").write_text(json.dumps(failed))
    assert report(tmp_path) == [] and len(report(tmp_path, failed=True)) == 1


def test_missing_profiles_folder_is_one_line_exit_2(tmp_path, capsys):
    code, out, err = run_cli(["report", "--profiles", str(tmp_path / "nothing")], capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "no profiles folder" in err
