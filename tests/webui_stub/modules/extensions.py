"""``modules.extensions`` as in the web UI 1.10: the installed extensions, listed at start from the built-in and
the user's extension folders (``stub_control.reset`` points both into the test's web UI folder), less the git
details, metadata.ini and requirement checks."""

from __future__ import annotations

import os

from modules import shared

extensions_dir = os.path.join(shared.data_path, "extensions")  # paths_internal's, set again by stub_control.reset
extensions_builtin_dir = os.path.join(shared.data_path, "extensions-builtin")

extensions: list = []
extension_paths: dict = {}


def active():
    if shared.cmd_opts.disable_all_extensions or shared.opts.disable_all_extensions == "all":
        return []
    elif shared.cmd_opts.disable_extra_extensions or shared.opts.disable_all_extensions == "extra":
        return [x for x in extensions if x.enabled and x.is_builtin]
    else:
        return [x for x in extensions if x.enabled]


class Extension:
    def __init__(self, name, path, enabled=True, is_builtin=False, metadata=None):
        self.name = name
        self.path = path
        self.enabled = enabled
        self.is_builtin = is_builtin
        self.canonical_name = name.lower().strip()

    def list_files(self, subdir, extension):
        from modules import scripts

        dirpath = os.path.join(self.path, subdir)
        if not os.path.isdir(dirpath):
            return []
        res = [scripts.ScriptFile(self.path, filename, os.path.join(dirpath, filename))
               for filename in sorted(os.listdir(dirpath))]
        return [x for x in res if os.path.splitext(x.path)[1].lower() == extension and os.path.isfile(x.path)]


def list_extensions():
    extensions.clear()
    extension_paths.clear()
    for dirname in [extensions_builtin_dir, extensions_dir]:
        if not os.path.isdir(dirname):
            continue
        for extension_dirname in sorted(os.listdir(dirname)):
            path = os.path.join(dirname, extension_dirname)
            if not os.path.isdir(path):
                continue
            extension = Extension(name=extension_dirname, path=path,
                                  enabled=extension_dirname not in shared.opts.disabled_extensions,
                                  is_builtin=dirname == extensions_builtin_dir)
            extensions.append(extension)
            extension_paths[extension.path] = extension
