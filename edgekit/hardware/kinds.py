"""Which target kinds exist: the modules of edgekit.costmodel that declare KIND. A registry importing its plugin
modules by listing their package (the one loop the layout allows, as the formats table and the model families do):
the target schema accepts exactly these kinds, and edgekit.costmodel.kinds asks each module for its hooks.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType

COST_MODELS = "edgekit.costmodel"  # the package whose modules declare kinds (named, not imported, at module level)


@cache
def kind_modules() -> dict[str, ModuleType]:
    """KIND -> module, for every module of the cost-model package that declares one."""
    package = importlib.import_module(COST_MODELS)
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{COST_MODELS}.{info.name}")
        if isinstance(getattr(module, "KIND", None), str):
            found[module.KIND] = module
    return found


def kind_names() -> tuple[str, ...]:
    return tuple(sorted(kind_modules()))


def accelerator_kinds() -> tuple[str, ...]:
    """The kinds whose targets carry [accelerator] and [accelerator_cost] tables (their module's ACCELERATOR)."""
    return tuple(k for k in kind_names() if getattr(kind_modules()[k], "ACCELERATOR", False))
