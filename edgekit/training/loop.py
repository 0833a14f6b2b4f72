"""`edgekit train`: an image folder (class subfolders) or a builtin set -> a trained .keras model with a manifest that
`edgekit export` takes directly (training images calibrate, validation images measure labelled accuracy).

The notes' rule picks the strategy from the images per class: under 1000 transfer learning (frozen pretrained backbone,
new head), 1000-5000 fine-tuning (head first, then the top blocks at a low learning rate), above 5000 from scratch.

Small data sets hide a trap: BatchNorm moving averages with keras' momentum 0.999 need thousands of steps to follow
the weights, so a network at 98% training accuracy can score 12% in inference mode. edgekit sets the momentum from
the steps per epoch, re-estimates the statistics after training when that helps, and measures inference-mode
validation accuracy before it saves anything.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import console
from edgekit._version import __version__
from edgekit.errors import EdgekitError, UsageError
from edgekit.ioutil import atomic_path, sha256_file, write_json_atomic
from edgekit.models.layers import batchnorm_layers, reestimate_batchnorm
from edgekit.models.weights import weights_source
from edgekit.quiet import quiet_env, quiet_tf
from edgekit.training.split import Split, augment, prepare_data

STRATEGIES = ("auto", "transfer", "finetune", "scratch")
TRANSFER_BELOW, SCRATCH_ABOVE = 1000, 5000  # images per class (the notes' rule)
BASE_LR = {"scratch": 3e-3, "transfer": 1e-3, "finetune": 1e-4}  # fine-tuning: 10x below the head's rate
# Without BatchNorm nothing absorbs large early updates: SqueezeNet at 3e-3 stayed at chance (every ReLU dead).
NO_BATCHNORM_LR_SCALE = 1 / 6
UNFREEZE_FRACTION = 0.3  # fine-tuning unfreezes the top 30% of the backbone's layers
CHECKPOINT_DIR = ".checkpoint"


@dataclass
class TrainOptions:
    model: str
    data: str
    strategy: str = "auto"
    epochs: int = 30
    input_size: int | None = None
    batch_size: int = 32
    val_split: float = 0.2
    weights: str = "auto"
    alpha: float | None = None
    out: Path | None = None  # the export root (default ./edgekit-out): <out>/<model>-<data>/keras/
    resume: bool = False
    patience: int = 6
    seed: int = 0


# --- strategy, model ----------------------------------------------------------------------------------------------
def choose_strategy(requested: str, per_class: float) -> tuple[str, str]:
    if requested not in STRATEGIES:
        raise UsageError(f"--strategy must be one of {', '.join(STRATEGIES)}, got '{requested}'")
    if requested != "auto":
        return requested, "asked for"
    if per_class < TRANSFER_BELOW:
        return "transfer", f"{per_class:.0f} images per class < {TRANSFER_BELOW}: frozen pretrained backbone, new head"
    if per_class <= SCRATCH_ABOVE:
        return "finetune", f"{per_class:.0f} images per class: head first, then the top blocks at a low learning rate"
    return "scratch", f"{per_class:.0f} images per class > {SCRATCH_ABOVE}: enough to train every layer"


def build_for_strategy(spec, size: int, classes: int, opts: TrainOptions, strategy: str, say) -> tuple[Any, str, str]:
    """(model, strategy actually used, weights used). Transfer learning without pretrained weights falls back to
    training from scratch, and says so."""
    from edgekit.models.registry import create_model

    def make(weights: str):
        try:
            return create_model(spec.name, size, classes, opts.alpha, weights)
        except ValueError as exc:  # a hand-made model whose feature map vanishes at this size
            raise UsageError(f"{spec.name} cannot take input size {size}: {str(exc).splitlines()[0][:200]}") from exc

    want = opts.weights.strip().lower()
    if strategy == "scratch":
        return make("none" if want in ("auto", "none") else opts.weights), strategy, _weights_label(opts.weights, want)
    if want == "none":
        reason = "--weights none"
    elif want not in ("auto", "imagenet"):
        return make(opts.weights), strategy, opts.weights  # a local pretrained weights file
    elif not spec.imagenet_weights:
        reason = f"{spec.name} has no published ImageNet weights"
    else:
        try:
            return make("imagenet"), strategy, "imagenet"
        except EdgekitError as exc:
            if want == "imagenet":
                raise
            reason = exc.message
    say(f"warning: {strategy} needs pretrained weights; none available ({reason}): training from scratch instead")
    return make("none"), "scratch", "random"


def describe_weights(used: str, source: dict[str, Any] | None) -> str:
    """'random', 'imagenet (torchvision squeezenet1_1)', a weights file: what training starts from, in one phrase."""
    return f"{used} ({source['publisher']} {source['architecture']})" if source else used


def _weights_label(given: str, want: str) -> str:
    return "random" if want in ("auto", "none") else given


def head_start(model) -> int:
    """Index of the first classifier layer: everything after the last global pooling (or the last weighted layer)."""
    names = [type(layer).__name__ for layer in model.layers]
    pools = [i for i, n in enumerate(names) if n in ("GlobalAveragePooling2D", "GlobalMaxPooling2D", "Flatten")]
    start = pools[-1] if pools else len(model.layers) - 1
    # SqueezeNet-style heads classify with a conv before pooling: keep it trainable too.
    while start > 0 and not any(layer.weights for layer in model.layers[start:]):
        start -= 1
    return start


def set_trainable(model, strategy: str, phase: str) -> None:
    """transfer / finetune's first phase: only the head trains; finetune's second: the top blocks too (BatchNorm
    stays frozen, in inference mode, as Keras' transfer-learning guide advises)."""
    if strategy == "scratch":
        model.trainable = True
        return
    start = head_start(model)
    top = int(start * (1 - UNFREEZE_FRACTION)) if phase == "finetune" else start
    for i, layer in enumerate(model.layers):
        trainable = i >= top
        if i < start and type(layer).__name__ == "BatchNormalization":
            trainable = False
        layer.trainable = trainable


def set_bn_momentum(model, steps_per_epoch: int) -> float | None:
    """Let the moving averages remember a tenth of an epoch (momentum 1 - 10/steps, within 0.9-0.99): keras' 0.999
    remembers 1000 steps, more than a small data set's whole run, and early weights change faster than one epoch's
    memory can follow (the notes' MobileNetV2 on the digits: 12% validation accuracy at 0.999, 95% at 0.9)."""
    bns = batchnorm_layers(model)
    if not bns:
        return None
    momentum = float(np.clip(1 - 10 / max(steps_per_epoch, 1), 0.9, 0.99))
    for layer in bns:
        layer.momentum = min(layer.momentum, momentum)
    return momentum


def accuracy(model, images: np.ndarray, labels: np.ndarray) -> float:
    """Inference-mode top-1 accuracy (moving BatchNorm statistics, no dropout): what export and devices see."""
    logits = model.predict(images, batch_size=128, verbose=0)
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


def uncompiled(model):
    """The same layers and weights without optimizer or compile config: the saved model is for inference, and
    export's safe loader accepts only model classes and layers."""
    import keras

    from edgekit.models.blocks import custom_objects

    with keras.saving.custom_object_scope(custom_objects()):  # clone_model would compile the copy too
        clean = type(model).from_config(model.get_config())
    clean.set_weights(model.get_weights())
    return clean


def compile_model(model, lr: float) -> None:
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=False,  # XLA's compile of a whole CNN costs minutes on a small CPU; a small data set gains less
    )


def cosine_lr(base: float, epoch: int, epochs: int) -> float:
    return base * max(0.05, 0.5 * (1 + math.cos(math.pi * epoch / max(epochs, 1))))


# --- checkpoints --------------------------------------------------------------------------------------------------
def save_checkpoint(ckpt: Path, model, state: dict[str, Any], improved: bool) -> None:
    """Write this epoch's model (with optimizer state) and best weights under new names, then the state file that
    points at them, then drop the old ones: an interruption at any point leaves a consistent checkpoint."""
    epoch = state["epoch"]
    with atomic_path(ckpt / f"last-e{epoch:03d}.keras") as tmp:
        model.save(str(tmp))
    state["last"] = f"last-e{epoch:03d}.keras"
    if improved:
        with atomic_path(ckpt / f"best-e{epoch:03d}.weights.h5", suffix=".weights.h5") as tmp:
            model.save_weights(str(tmp))
        state["best"] = f"best-e{epoch:03d}.weights.h5"
    write_json_atomic(ckpt / "state.json", state)
    for p in ckpt.iterdir():
        if p.name not in (state["last"], state.get("best"), "state.json") and not p.name.startswith("."):
            p.unlink()


def load_checkpoint(ckpt: Path, expect: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    import keras

    from edgekit.models.blocks import custom_objects

    state_path = ckpt / "state.json"
    if not state_path.exists():
        raise UsageError(f"nothing to resume in {ckpt.parent}: no checkpoint (drop --resume to start a new run)")
    state = json.loads(state_path.read_text())
    for key, value in expect.items():
        if state.get("run", {}).get(key) != value:
            raise UsageError(f"--resume: the checkpoint in {ckpt.parent} was made with a different {key}")
    model = keras.models.load_model(str(ckpt / state["last"]), safe_mode=True, custom_objects=custom_objects())
    return model, state


# --- the run ------------------------------------------------------------------------------------------------------
def validate(opts: TrainOptions):
    """Fail fast, before TensorFlow loads, on bad options."""
    from edgekit.models.registry import get_spec

    spec = get_spec(opts.model)
    size = opts.input_size or spec.default_input_size
    spec.check_input_size(size)
    if opts.strategy not in STRATEGIES:
        raise UsageError(f"--strategy must be one of {', '.join(STRATEGIES)}, got '{opts.strategy}'")
    if not 0 < opts.val_split < 1:
        raise UsageError(f"--val-split must be between 0 and 1 (a fraction), got {opts.val_split}")
    if opts.epochs < 1 or opts.batch_size < 1:
        raise UsageError("--epochs and --batch-size must be at least 1")
    if opts.alpha is not None and not spec.supports_alpha:
        raise UsageError(f"{spec.name} has no width multiplier (--alpha)")
    return spec, size


def train(opts: TrainOptions, say=None) -> dict[str, Any]:
    """Train, checkpoint every epoch, measure inference-mode validation accuracy, save .keras + manifest."""
    from edgekit.data.labelled import fingerprint, resolve_data

    console.err_stream()  # keep a handle on the real stderr before TensorFlow's logs are silenced on fd 2
    from edgekit.data.labelled import one_line

    say = say or one_line
    spec, size = validate(opts)
    folder, dname = resolve_data(opts.data, size)
    pre = replace(spec.preprocess, crop_fraction=1.0)  # the whole image: small pictures have nothing to spare
    name = f"{spec.name}-{dname}"
    out = (Path(opts.out) if opts.out else Path("edgekit-out")) / name / "keras"  # --out: the export root
    ckpt = out / CHECKPOINT_DIR
    if (ckpt / "state.json").exists() and not opts.resume:
        raise UsageError(f"{out} holds an interrupted run: pass --resume to continue it, or choose another --out")

    split = prepare_data(folder, size, pre, opts.val_split, opts.seed)
    if split.skipped:
        say(f"skipped {split.skipped} unreadable image(s) in {folder}")
    n_classes = len(split.classes)
    strategy, why = choose_strategy(opts.strategy, len(split.labels) / n_classes)
    run_key = {
        "model": spec.name,
        "input_size": size,
        "alpha": opts.alpha,
        "fingerprint": fingerprint(split.files, folder),
        "val_split": opts.val_split,
        "seed": opts.seed,
    }

    quiet_env()
    with quiet_tf():
        import keras

        keras.utils.set_random_seed(opts.seed)
        if opts.resume:
            model, state = load_checkpoint(ckpt, run_key)
            strategy, why, weights_used = state["strategy"], state["strategy_reason"], state["weights"]
            say(f"resuming {name} after epoch {state['epoch'] + 1} (best val accuracy {state['best_acc']:.3f})")
        else:
            say(f"strategy: {strategy} ({why})")
            model, used, weights_used = build_for_strategy(spec, size, n_classes, opts, strategy, say)
            if used != strategy:
                why, strategy = f"{why}; no pretrained weights, so from scratch", used
            state = {"run": run_key, "strategy": strategy, "strategy_reason": why, "weights": weights_used}
            state["weights_source"] = weights_source(model)
            say(f"weights: {describe_weights(weights_used, state['weights_source'])}")
            state |= {"epoch": -1, "best_acc": -1.0, "best_epoch": -1, "phase": "head", "history": []}
            set_trainable(model, strategy, "head")
            state["bn_momentum"] = set_bn_momentum(model, math.ceil(len(split.train) / opts.batch_size))
            state["lr_scale"] = 1.0 if state["bn_momentum"] is not None else NO_BATCHNORM_LR_SCALE
            compile_model(model, BASE_LR["transfer" if strategy == "finetune" else strategy] * state["lr_scale"])
        fit_epochs(model, split, opts, state, ckpt, strategy, say)
        return finish(model, split, opts, state, spec, name, out, pre, folder, size, say)


def fit_epochs(model, split: Split, opts: TrainOptions, state: dict, ckpt: Path, strategy: str, say) -> None:
    """One epoch at a time: augment, fit, measure inference-mode validation accuracy, checkpoint, early-stop."""

    x_train, y_train = split.images[split.train], split.labels[split.train]
    x_val, y_val = split.images[split.val], split.labels[split.val]
    head_epochs = max(1, opts.epochs // 3)  # fine-tuning: the head settles before the top blocks thaw
    steps = math.ceil(len(x_train) / opts.batch_size)
    for epoch in range(state["epoch"] + 1, opts.epochs):
        if strategy == "finetune" and state["phase"] == "head" and epoch >= head_epochs:
            state["phase"] = "finetune"
            set_trainable(model, strategy, "finetune")
            compile_model(model, BASE_LR["finetune"])
            say(f"epoch {epoch + 1}: the head has settled; fine-tuning the top blocks at {BASE_LR['finetune']:g}")
        base = BASE_LR[state["phase"] if strategy == "finetune" else strategy]
        if strategy == "finetune" and state["phase"] == "head":
            base = BASE_LR["transfer"]
        model.optimizer.learning_rate.assign(cosine_lr(base * state.get("lr_scale", 1.0), epoch, opts.epochs))
        rng = np.random.default_rng(opts.seed * 1000 + epoch)
        t0 = time.perf_counter()
        with console.progress(f"epoch {epoch + 1}/{opts.epochs}", total=steps) as advance:
            import keras

            tick = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs=None: advance())
            hist = model.fit(
                augment(x_train, rng),
                y_train,
                batch_size=opts.batch_size,
                epochs=1,
                shuffle=True,
                verbose=0,
                callbacks=[tick],
            )
        val_acc = accuracy(model, x_val, y_val)
        train_acc = float(hist.history.get("accuracy", [float("nan")])[-1])
        improved = val_acc > state["best_acc"]
        if improved:
            state["best_acc"], state["best_epoch"] = val_acc, epoch
        state["epoch"] = epoch
        state["history"].append({"epoch": epoch + 1, "train_accuracy": round(train_acc, 4), "val_accuracy": val_acc})
        save_checkpoint(ckpt, model, state, improved)
        say(
            f"epoch {epoch + 1}/{opts.epochs}: train accuracy {train_acc:.3f} (augmented, training mode), "
            f"val accuracy {val_acc:.3f} (inference mode), {time.perf_counter() - t0:.1f} s"
        )
        if epoch - state["best_epoch"] >= opts.patience:
            say(f"early stop: no better validation accuracy for {opts.patience} epochs")
            break


def finish(model, split, opts, state, spec, name, out, pre, folder, size, say) -> dict[str, Any]:
    """Best weights back, BatchNorm statistics re-estimated if that helps, accuracy measured, then saved."""
    from edgekit.data.labelled import preprocess_name
    from edgekit.models.macs import count_params_macs

    ckpt = out / CHECKPOINT_DIR
    if state.get("best"):
        model.load_weights(str(ckpt / state["best"]))
    x_val, y_val = split.images[split.val], split.labels[split.val]
    x_train = split.images[split.train]
    before = accuracy(model, x_val, y_val)
    bn = {"momentum": state.get("bn_momentum"), "reestimated": False, "val_accuracy_before": before}
    if batchnorm_layers(model) and state["strategy"] != "transfer":  # a frozen backbone keeps its statistics
        saved = model.get_weights()
        reestimate_batchnorm(model, x_train, batch=None, chunk=64)
        after = accuracy(model, x_val, y_val)
        bn["val_accuracy_reestimated"] = after
        if after > before:
            bn["reestimated"] = True
        else:
            model.set_weights(saved)
    val_acc = accuracy(model, x_val, y_val)  # measured on exactly what is saved
    train_acc = accuracy(model, x_train, split.labels[split.train])
    path = out / f"{name}.keras"
    model.trainable = True  # export and later fine-tuning see a normal model
    with atomic_path(path) as tmp:
        uncompiled(model).save(str(tmp))
    params, macs = count_params_macs(model)
    rel = [str(p.relative_to(folder)) for p in split.files]
    training = {
        "data": opts.data,
        "data_root": str(folder.resolve()),
        "fingerprint": state["run"]["fingerprint"],
        "classes": split.classes,
        "strategy": state["strategy"],
        "strategy_reason": state["strategy_reason"],
        "epochs_run": state["epoch"] + 1,
        "best_epoch": state["best_epoch"] + 1,
        "val_accuracy": val_acc,
        "train_accuracy": train_acc,
        "batchnorm": bn,
        "batch_size": opts.batch_size,
        "augmentation": "random shifts up to 12.5%, edge padding",
        "skipped_images": split.skipped,
        "split": {
            "val_split": opts.val_split,
            "seed": opts.seed,
            "stratified": True,
            "train": [rel[i] for i in split.train],
            "val": [rel[i] for i in split.val],
        },
        "history": state["history"],
    }
    manifest = {
        "edgekit_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": name,
        "architecture": spec.name,
        "format": "keras",
        "precision": "fp32",
        "path": str(path),
        "files": [{"path": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}],
        "build": {"input_size": size, "num_classes": len(split.classes), "alpha": opts.alpha},
        "weights": {"requested": opts.weights, "used": state["weights"], "source": state.get("weights_source")},
        "input": {"shape": [1, size, size, 3], "dtype": "float32"},
        "preprocess": {**pre.to_dict(), "mode": preprocess_name(pre)},
        "params": params,
        "macs": macs,
        "training": training,
    }
    write_json_atomic(out / "manifest.json", manifest)
    shutil.rmtree(ckpt, ignore_errors=True)  # the run is complete: nothing left to resume
    say(f"saved {path}: validation accuracy {val_acc:.3f} (inference mode, {len(split.val)} images)")
    return {
        "model_path": str(path),
        "manifest": str(out / "manifest.json"),
        "strategy": state["strategy"],
        "strategy_reason": state["strategy_reason"],
        "weights": state["weights"],
        "val_accuracy": val_acc,
        "train_accuracy": train_acc,
        "epochs_run": state["epoch"] + 1,
        "best_epoch": state["best_epoch"] + 1,
        "classes": split.classes,
        "train_images": int(len(split.train)),
        "val_images": int(len(split.val)),
        "skipped_images": split.skipped,
        "batchnorm": bn,
    }
