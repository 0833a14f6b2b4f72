"""--seed means one thing in build and export: the seed of random weights (and of export's image samples)."""

from __future__ import annotations

import json

import numpy as np
from conftest import run_cli


def _weights(path: str) -> list[np.ndarray]:
    import keras

    return keras.saving.load_model(path, compile=False).get_weights()


def test_build_seed_gives_the_same_random_weights(tmp_path, capsys):
    paths = {}
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        args = ["build", "squeezenet11", "--input-size", "32", "--num-classes", "3", "--weights", "none"]
        code, out, err = run_cli([*args, "--seed", seed, "--out", str(tmp_path / name), "--json"], capsys)
        assert code == 0, err
        record = json.loads(out)
        assert record["build"]["seed"] == int(seed)
        paths[name] = record["path"]
    a, b, c = (_weights(paths[k]) for k in "abc")
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))  # the control: another seed differs
