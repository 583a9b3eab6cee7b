"""The part of ``modules.paths`` (web UI 1.10) the extension reads: ``models_path``, the web UI's ``models`` folder
(``stub_control.reset`` points it into the test's web UI folder)."""

import os

from modules import shared

models_path = os.path.join(shared.data_path, "models")
