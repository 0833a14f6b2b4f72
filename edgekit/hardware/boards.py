"""Which target a remote board is, from what edgekit's probe read on it (device-tree model, Edge TPU ids).

The probe itself runs over SSH (edgekit.measure.probe); this module only matches its answer against the targets'
`detect` rules, so that a new board is one TOML file with its rules.
"""

from __future__ import annotations

from typing import Any

from edgekit.hardware.targets import load_targets


def _rule_matches(rule: str, probe: dict[str, Any]) -> bool:
    if rule.startswith("device-tree:"):
        return (probe.get("board") or "").startswith(rule.split(":", 1)[1])
    return {"edgetpu-usb": probe.get("edgetpu_usb"), "edgetpu-pcie": probe.get("edgetpu_pcie")}.get(rule, False)


def detect_targets(probe: dict[str, Any]) -> list[str]:
    """Targets whose every detect rule the remote satisfies (boards first, then their accelerators). 'always' (this
    host) never matches a remote, nor do OpenVINO NPU rules (an NPU is measured on the machine itself)."""
    found = []
    for target in load_targets().values():
        rules = list(target.detect)
        if rules and all(not r.startswith(("always", "openvino:")) and _rule_matches(r, probe) for r in rules):
            found.append(target)
    return [t.id for t in sorted(found, key=lambda t: t.accelerator is not None)]  # the board before its add-ons


def describe(probe: dict[str, Any]) -> str:
    parts = [probe.get("board") or probe.get("cpu") or "unknown CPU", probe.get("machine"), probe.get("os")]
    if probe.get("cpu_part"):
        parts.insert(1, f"CPU part {probe['cpu_part']}")
    return ", ".join(str(p) for p in parts if p)
