"""Profiling: measure artifacts on this host (each in a fresh subprocess) and read host energy counters.

Light to import: the runtimes are only imported inside the measuring subprocess.
"""

from edgekit.profile.measure import MeasureError, find_model_file, measure_artifact

__all__ = ["MeasureError", "find_model_file", "measure_artifact"]
