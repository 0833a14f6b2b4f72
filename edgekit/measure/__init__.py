"""Measurement through edgekit.device: on this host, over SSH on boards and fleets, with energy and power."""
