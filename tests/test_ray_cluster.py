"""Issue 25 against a real Ray cluster: a head and a second node (`ray start`, one CPU each) on this machine.

Exports of tiny zoo models through the cluster are byte-identical to a local export on as many threads as a task
has CPUs (every artifact file; each
manifest.json too except "made_on", which names the node, and the two keys that differ between any two local runs:
"created" and "timings_s"); a node killed mid-task loses nothing (Ray runs its task again on the head).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _raycluster import Cluster

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--int8", "--format", "tflite", "--input-size", "32", "--num-classes", "10", "--calib-size", "16"]
TINY += ["--holdout", "8", "--weights", "none", "--no-layer-report"]
DIFFER_ALWAYS = ("created", "timings_s")  # two local runs differ here too
# A task with one CPU runs TensorFlow on one thread; its float sums (BatchNorm statistics, calibration ranges) differ
# in the last bits with the thread count, so the local reference runs on one thread too (measured: MobileNetV2 at
# 224 px gives another .tflite on 2 threads than on 1).
ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1"}


def edgekit(args: list[str], timeout: float = 900, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0", **(env or {})}
    cmd = [sys.executable, "-m", "edgekit", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


def popen_edgekit(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0"}
    cmd = [sys.executable, "-m", "edgekit", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def cluster():
    c = Cluster().start()
    yield c
    c.stop()


def test_export_through_the_cluster_is_byte_identical_to_a_local_one(cluster, tmp_path):
    models = ["mobilenetv2", "squeezenet11"]
    local = edgekit(["export", *models, *TINY, "--out", str(tmp_path / "local"), "--json"], env=ONE_THREAD)
    assert local.returncode == 0, local.stderr[-2000:]
    remote = edgekit(["export", *models, *TINY, "--out", str(tmp_path / "ray"), "--ray", cluster.address, "--json"])
    assert remote.returncode == 0, remote.stderr[-2000:]
    here, there = files(tmp_path / "local"), files(tmp_path / "ray")
    assert (
        sorted(here)
        == sorted(there)
        == [
            "mobilenetv2/tflite-int8/manifest.json",
            "mobilenetv2/tflite-int8/model.tflite",
            "squeezenet11/tflite-int8/manifest.json",
            "squeezenet11/tflite-int8/model.tflite",
        ]
    )  # the local layout, nothing hidden or partial beside it
    nodes = set()
    for name in here:
        if not name.endswith("manifest.json"):
            assert here[name] == there[name], f"{name} differs from the local export"
            continue
        mine, theirs = json.loads(here[name]), json.loads(there[name])
        made_on = theirs.pop("made_on")
        nodes.add(made_on["ray_node_id"])
        assert made_on["node"] and made_on["ip"] and made_on["threads"] == 1
        for key in DIFFER_ALWAYS:
            mine.pop(key), theirs.pop(key)
        assert mine == theirs, name
    records = json.loads(remote.stdout)
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert all(r["path"].startswith(str(tmp_path / "ray")) and r["made_on"]["ray_node_id"] in nodes for r in records)
    assert "2 jobs: 2 done, 0 retried (then done), 0 failed" in remote.stderr


@pytest.mark.slow
def test_a_node_killed_mid_task_loses_nothing(tmp_path):
    """SIGKILL the second node (its raylet and workers) while it exports: Ray runs that task again on the head and
    every artifact arrives; the summary names the retry."""
    c = Cluster().start()
    try:
        models = ["mobilenetv2", "squeezenet11", "efficientnetlite0"]
        proc = popen_edgekit(["export", *models, *TINY, "--out", str(tmp_path), "--ray", c.address, "--json"])
        deadline, killed = time.time() + 600, []
        while proc.poll() is None and not killed and time.time() < deadline:
            if c.running_on_second_node():
                time.sleep(3)  # well inside the export, not at its start
                killed = c.kill_second_node()
            time.sleep(0.2)
        out, err = proc.communicate(timeout=900)
        assert killed, "no task ran on the second node"
        assert proc.returncode == 0, err[-3000:]
        records = json.loads(out)
        assert [r["status"] for r in records] == ["ok"] * 3
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(models)
        for r in records:
            assert Path(r["path"]).is_file() and json.loads(Path(r["manifest"]).read_text())["made_on"]
        assert any(r.get("attempts", 1) > 1 for r in records), err[-2000:]
        assert "3 jobs: 2 done, 1 retried (then done), 0 failed" in err
    finally:
        c.stop()


@pytest.mark.slow
def test_compare_builds_its_graphs_on_the_cluster(cluster, tmp_path):
    """compare --ray: the graphs missing from the cache are built as tasks and land in this host's cache; the rows
    are those of a local compare."""
    args = ["compare", "mobilenetv2", "squeezenet11", "--target", "rpi4", "--input-size", "32", "--json"]
    args += ["--profiles", str(tmp_path / "none")]
    env = {"EDGEKIT_CACHE": str(tmp_path / "cache-ray")}
    remote = edgekit([*args, "--ray", cluster.address], env=env)
    assert remote.returncode == 0, remote.stderr[-2000:]
    assert len(list((tmp_path / "cache-ray" / "graphs").glob("*.json"))) == 2
    assert "2 jobs: 2 done" in remote.stderr
    local = edgekit(args, env={"EDGEKIT_CACHE": str(tmp_path / "cache-local")})
    assert local.returncode == 0, local.stderr[-2000:]
    volatile = ("graph_cached", "graph_build_seconds")
    rows = [
        [{k: v for k, v in r.items() if k not in volatile} for r in json.loads(p.stdout)["rows"]]
        for p in (remote, local)
    ]
    assert rows[0] == rows[1]
    assert all(r["graph_cached"] for r in json.loads(remote.stdout)["rows"])  # built there, read here


@pytest.mark.slow
def test_training_trials_run_as_tasks(cluster, tmp_path):
    from edgekit.data.labelled import materialise_digits

    data = materialise_digits(tmp_path / "digits-32px", 32)
    args = ["train", "squeezenet", "mobilenetv2", "--data", str(data), "--epochs", "1", "--input-size", "32"]
    proc = edgekit([*args, "--weights", "none", "--out", str(tmp_path / "out"), "--ray", cluster.address, "--json"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    assert [t["status"] for t in doc["trials"]] == ["done", "done"] and doc["best"]
    for trial in doc["trials"]:
        manifest = json.loads(Path(trial["manifest"]).read_text())
        assert manifest["made_on"]["ray_node_id"] and Path(manifest["path"]) == Path(trial["model_path"])
        assert Path(trial["model_path"]).is_file() and str(tmp_path / "out") in trial["model_path"]


def test_a_job_no_node_can_take_is_refused_not_left_pending(cluster):
    """Ray leaves a task that no node can hold pending forever: such jobs fail at once with the figures."""
    import ray

    from edgekit.cluster.jobs import Job
    from edgekit.cluster.raybackend import infeasible

    ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
    try:
        jobs = [Job("export", "vgg19", None, None, {}, 10**15), Job("export", "squeezenet11", 32, None, {}, 10**9)]
        found = infeasible(jobs, 1)
        assert list(found) == [0] and found[0].startswith("needs ~1000000.0 GB; the largest node offers ")
        assert infeasible(jobs[1:], 4) == {0: "--ray-cpus 4: the largest node has 1 CPUs"}
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_ctrl_c_cancels_the_remaining_tasks(cluster, tmp_path):
    """^C on the driver: exit 130, no edgekit task left running on the cluster, nothing partial in --out."""
    import signal

    models = ["mobilenetv2", "squeezenet11", "efficientnetlite0"]
    proc = popen_edgekit(["export", *models, *TINY, "--out", str(tmp_path), "--ray", cluster.address])
    deadline = time.time() + 300
    while proc.poll() is None and not cluster.tasks_running() and time.time() < deadline:
        time.sleep(0.2)
    assert cluster.tasks_running(), "no task started"
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    deadline = time.time() + 30
    while cluster.tasks_running() and time.time() < deadline:
        time.sleep(0.5)
    assert not cluster.tasks_running()
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]  # no half-received folder
    assert all((p.parent / "manifest.json").is_file() for p in tmp_path.rglob("*.tflite"))
