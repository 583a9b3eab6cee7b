"""Run by the web UI at start: installs only what the web UI lacks, with its own helpers (``launch``)."""

import importlib.metadata

import launch

# distribution, pip requirement, lowest major version that works (pyproject.toml's dependencies)
REQUIREMENTS = [
    ("pyrate-limiter", "pyrate-limiter>=4.0,<5", 4),
    ("tenacity", "tenacity>=8.2", 8),
    ("ImageHash", "ImageHash>=4.3", 4),
]


def _major(dist):
    try:
        return int(importlib.metadata.version(dist).split(".")[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None


for dist, requirement, major in REQUIREMENTS:
    if not launch.is_installed(dist) or (_major(dist) or 0) < major:
        launch.run_pip(f'install "{requirement}"', f"sd-webui-dataset requirement: {requirement}")
