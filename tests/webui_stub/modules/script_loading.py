"""``modules.script_loading`` as in the web UI 1.10: a script file is run as a module named by its file name, kept
in ``loaded_scripts`` but never put in ``sys.modules``."""

import importlib.util
import os

loaded_scripts = {}


def load_module(path):
    module_spec = importlib.util.spec_from_file_location(os.path.basename(path), path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)

    loaded_scripts[path] = module
    return module
