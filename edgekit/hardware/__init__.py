"""Hardware facts: the target schema (targets/*.toml) and probing of this host."""
