"""pyproject.toml pins the direct dependencies; requirements.lock pins the tree. They must agree."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_direct_dependency_is_pinned_to_the_locked_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    direct = project["dependencies"] + project["optional-dependencies"]["dev"]
    locked = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            locked[_canonical(name)] = version
    mismatches = []
    for requirement in direct:
        name, _, version = requirement.partition("==")
        assert version, f"{requirement} is not pinned with =="
        if locked.get(_canonical(name.split("[")[0])) != version:
            mismatches.append((requirement, locked.get(_canonical(name))))
    assert mismatches == []
