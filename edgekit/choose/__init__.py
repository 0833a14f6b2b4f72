"""Choosing a model: the comparison table (compare), the notes' rules of thumb (recommend) and their reports."""
