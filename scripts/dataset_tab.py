"""The web UI's entry point for sd-webui-dataset: registers the Dataset tab and its settings section.

The web UI 1.x puts this extension's folder on ``sys.path`` only while this file runs, so the package is
imported here, at load time, under its own unique name (``sd_dataset``); later imports of its submodules
resolve through the package's ``__path__`` and keep working after ``sys.path`` is restored.  No logic here.
"""

import sd_dataset.ui  # noqa: F401  (the tab's module, imported while the extension folder is on sys.path)
import sd_dataset.webui

sd_dataset.webui.register()
