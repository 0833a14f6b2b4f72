"""Ships the repository's targets/*.toml inside the package (edgekit/targets/), so wheels find their targets.

Everything else is declared in pyproject.toml; the targets stay at the repository's top level, where users edit them.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

TARGETS = Path(__file__).resolve().parent / "targets"


class BuildPyWithTargets(build_py):
    def run(self) -> None:
        super().run()
        dest = Path(self.build_lib) / "edgekit" / "targets"
        self.mkpath(str(dest))
        for toml in sorted(TARGETS.glob("*.toml")):
            self.copy_file(str(toml), str(dest / toml.name))


setup(cmdclass={"build_py": BuildPyWithTargets})
