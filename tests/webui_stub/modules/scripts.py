"""``modules.scripts`` as in the web UI 1.10: ``basedir()`` and ``load_scripts()``, which runs every active
extension's ``scripts/*.py`` with that extension's folder first on ``sys.path`` and as ``current_basedir`` only while
the file runs (then both are put back), after clearing the callbacks, as at start and at every Reload UI.

Left out: the web UI's own scripts folder (the stand-in has none), metadata.ini's Requires/Before/After ordering
(extensions load in their listed order, each one's files sorted, as without metadata), and the txt2img/img2img
ScriptRunner; ``Script`` is the base class an extension's file subclasses, without the runner's machinery.
"""

import inspect
import os
import sys
from collections import namedtuple

from modules import errors, extensions, script_callbacks, script_loading, shared

AlwaysVisible = object()


class Script:
    name = None
    filename = None
    is_txt2img = False
    is_img2img = False
    infotext_fields = None

    def title(self):
        raise NotImplementedError()

    def ui(self, is_img2img):
        pass

    def show(self, is_img2img):
        return True


current_basedir = shared.data_path  # the real one starts at paths.script_path, the web UI's folder


def basedir():
    """The folder of the extension whose script file is being loaded (the web UI's folder otherwise)."""
    return current_basedir


ScriptFile = namedtuple("ScriptFile", ["basedir", "filename", "path"])
ScriptClassData = namedtuple("ScriptClassData", ["script_class", "path", "basedir", "module"])
scripts_data = []


def list_scripts(scriptdirname, extension):
    scripts_list = []
    for ext in extensions.active():
        scripts_list += ext.list_files(scriptdirname, extension)
    return [x for x in scripts_list if os.path.isfile(x.path)]


def load_scripts():
    global current_basedir
    scripts_data.clear()
    script_callbacks.clear_callbacks()

    syspath = sys.path

    for scriptfile in list_scripts("scripts", ".py"):
        try:
            if scriptfile.basedir != shared.data_path:
                sys.path = [scriptfile.basedir] + sys.path
            current_basedir = scriptfile.basedir

            script_module = script_loading.load_module(scriptfile.path)
            for script_class in script_module.__dict__.values():
                if inspect.isclass(script_class) and issubclass(script_class, Script):
                    scripts_data.append(ScriptClassData(script_class, scriptfile.path, scriptfile.basedir,
                                                        script_module))
        except Exception:
            errors.report(f"Error loading script: {scriptfile.filename}", exc_info=True)
        finally:
            sys.path = syspath
            current_basedir = shared.data_path
