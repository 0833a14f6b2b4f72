"""Stages that span packages: `profile` (measure | emulate | predict)."""
