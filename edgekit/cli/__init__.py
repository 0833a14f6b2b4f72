"""The `edgekit` command line: a Typer app over the Python API (parse -> call edgekit.api -> render)."""
