"""Run by the web UI at start: installs only what the web UI lacks, with its own helpers (``launch``)."""

import importlib.metadata

import launch

# distribution, pip requirement, lowest (major, minor) version that works (pyproject.toml's dependencies)
REQUIREMENTS = [
    ("pyrate-limiter", "pyrate-limiter>=4.1,<5", (4, 1)),
    ("filelock", "filelock>=3.11", (3, 11)),
    ("tenacity", "tenacity>=8.2", (8, 2)),
    ("ImageHash", "ImageHash>=4.3", (4, 3)),
]


def _version(dist):
    try:
        return tuple(int(part) for part in importlib.metadata.version(dist).split(".")[:2])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None


for dist, requirement, lowest in REQUIREMENTS:
    if not launch.is_installed(dist) or (_version(dist) or (0,)) < lowest:
        launch.run_pip(f'install "{requirement}"', f"sd-webui-dataset requirement: {requirement}")
