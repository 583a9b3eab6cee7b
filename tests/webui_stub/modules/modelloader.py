"""``modules.modelloader.load_models`` as in the web UI 1.10: the files under ``model_path`` (its subfolders too)
whose names end in one of ``ext_filter``; none there and a ``model_url`` given, it downloads ``download_name`` into
``model_path``.  The real one swallows every exception, a failed download included, and then answers an empty list;
so does this one when ``stub_control.settings.deepbooru_download`` is False (a web UI offline or refused)."""

import os


def load_models(model_path: str, model_url: str = None, command_path: str = None, ext_filter=None,
                download_name=None, ext_blacklist=None, hash_prefix=None) -> list:
    import stub_control

    stub_control.record("modelloader.load_models", model_path, model_url=model_url, download_name=download_name)
    output = []
    try:
        for root, _, names in os.walk(model_path):
            for name in sorted(names):
                if ext_filter is None or any(name.endswith(ext) for ext in ext_filter):
                    output.append(os.path.join(root, name))
        if model_url is not None and not output and download_name is not None:
            if not stub_control.settings.deepbooru_download:
                raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")
            os.makedirs(model_path, exist_ok=True)
            path = os.path.join(model_path, download_name)
            with open(path, "wb") as file:
                file.write(b"stand-in weights")
            output.append(path)
    except Exception:
        pass
    return output
