import numpy as np

from edgekit.exporting.fidelity import cosine, fidelity_metrics, gate, sqnr_db


def test_identical_logits_are_exact():
    x = np.random.default_rng(0).normal(size=(4, 10)).astype(np.float32)
    rep = fidelity_metrics(x, x.copy())
    assert rep["cosine"] == 1.0 and rep["sqnr_db"] is None and rep["top1_agreement"] == 1.0
    assert rep["top5_overlap"] == 1.0


def test_sqnr_matches_definition():
    ref = np.ones((1, 4))
    noisy = ref + 0.1
    assert abs(sqnr_db(ref, noisy) - 20.0) < 1e-9  # signal 4, noise 0.04 -> 100x -> 20 dB


def test_cosine_detects_sign_flip_and_top1():
    a = np.array([[1.0, 2.0, 3.0]])
    assert abs(cosine(a, -a) + 1.0) < 1e-12
    rep = fidelity_metrics(a, a[:, ::-1].copy())
    assert rep["top1_agreement"] == 0.0


def test_accuracy_with_labels_and_gate():
    ref = np.array([[0.0, 1.0], [1.0, 0.0]])
    out = np.array([[0.0, 1.0], [0.0, 1.0]])
    rep = fidelity_metrics(ref, out, labels=np.array([1, 0]))
    assert rep["reference_accuracy"] == 1.0 and rep["accuracy"] == 0.5
    assert rep["accuracy_drop_pp"] == 50.0  # percentage points, the unit of --max-accuracy-drop
    assert "accuracy dropped by 50.00 pp" in gate(rep, None, 0.1)
    assert gate(rep, None, 60) is None
    assert "below --min-cosine" in gate(rep, 0.99, None)
