"""Logins the user asked to remember: one JSON file only its owner can read, keyed by a site's ``env_prefix``.

``{"E621": {"username": "...", "api_key": "..."}, ...}``.  The file is written to a temporary name created
with mode 0600 and renamed into place, so it is never whole-or-nothing nor briefly readable by others.  A file
that is a link, readable by other users, or not a file of logins is refused with one sentence, never fixed or
overwritten behind the user's back: it may be theirs, and a wrong mode means someone else could have read it.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import threading
from pathlib import Path
from typing import Dict

from .errors import DatasetError
from .files import Refused, read_at_most, temp_path_for
from .http import Credentials

FILE_MODE = 0o600
FOLDER_MODE = 0o700
MAX_BYTES = 1024 * 1024  # a login is a hundred bytes; more is not a login file
FIELDS = ("username", "api_key")
# one lock for every store of a path: put is read-change-write, and the tab and the web UI's start both write
_LOCK = threading.Lock()
_CHECK_MODE = os.name != "nt"  # Windows has no such permission bits (every file reads as 0o666)


def _is_login(entry) -> bool:
    return isinstance(entry, dict) and set(entry) <= set(FIELDS) and all(isinstance(v, str) for v in entry.values())


def standalone_login_file() -> Path:
    """``$XDG_CONFIG_HOME/sd_dataset/logins.json``, else ``~/.config/sd_dataset/logins.json``."""
    config = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(config) if os.path.isabs(config) else Path.home() / ".config"  # the spec ignores a relative one
    return base / "sd_dataset" / "logins.json"


class LoginStore:
    """The logins kept in the file at ``path``; keys are read from it on every call and never logged."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def get(self, env_prefix: str) -> Credentials:
        entry = self._read().get(env_prefix, {})
        return Credentials(entry.get("username") or None, entry.get("api_key") or None)

    def put(self, env_prefix: str, credentials: Credentials) -> None:
        entry = {name: value.strip() for name, value in
                 (("username", credentials.username), ("api_key", credentials.api_key)) if value and value.strip()}
        with _LOCK:
            logins = self._read()
            if entry:
                logins[env_prefix] = entry
            else:
                logins.pop(env_prefix, None)
            self._write(logins)

    def forget(self, env_prefix: str) -> None:
        with _LOCK:
            logins = self._read()
            if logins.pop(env_prefix, None) is not None:
                self._write(logins)

    def has_key(self, env_prefix: str) -> bool:
        return bool(self.get(env_prefix).api_key)

    # -- the file ---------------------------------------------------------------------------------------------
    def _refuse(self, problem: str, fix: str) -> DatasetError:
        return DatasetError(f"The login file {self.path} {problem}; {fix}.")

    def _read(self) -> Dict[str, Dict[str, str]]:
        """The file's logins ({} when there is none), or the one sentence that says why it is not read."""
        try:
            raw = self._read_bytes()
        except FileNotFoundError:
            return {}
        except Refused as exc:
            raise self._refuse(f"is refused: {exc}", "delete it and enter the logins again") from None
        except OSError as exc:
            raise self._refuse(f"cannot be read ({(exc.strerror or str(exc)).lower()})",
                               "make it readable by you, or delete it and enter the logins again") from None
        return self._parse(raw)

    def _read_bytes(self) -> bytes:
        # no following a link and no waiting on a FIFO; the checks are made on what was opened
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        if os.path.islink(self.path):
            raise self._refuse("is a link, which is never followed (it could point anywhere)",
                               f"put the file itself there, readable only by you (chmod 600 {self.path})")
        fd = os.open(self.path, flags)  # a link swapped in since the look fails here (O_NOFOLLOW)
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise self._refuse("is not a regular file", "delete it and enter the logins again")
            if _CHECK_MODE and st.st_mode & 0o077:
                raise self._refuse(f"can be read or changed by other users (mode {stat.S_IMODE(st.st_mode):o}), so "
                                   "its keys may be known to them", f"run chmod 600 {self.path} (and replace the keys "
                                   "on the sites' account pages if others could log in here)")
            return read_at_most(fh, MAX_BYTES)

    def _parse(self, raw: bytes) -> Dict[str, Dict[str, str]]:
        fix = "fix it, or delete it and enter the logins again"
        try:
            logins = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise self._refuse("is not UTF-8 text", fix) from None
        except json.JSONDecodeError as exc:  # its message names a position, never the file's text
            raise self._refuse(f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})", fix) from None
        if not isinstance(logins, dict) or not all(map(_is_login, logins.values())):
            raise self._refuse('is not a file of logins ({"E621": {"username": "...", "api_key": "..."}, ...})', fix)
        return logins

    def _write(self, logins: Dict[str, Dict[str, str]]) -> None:
        """Replace the file with ``logins``: written under a temporary name created 0600, then renamed."""
        tmp = temp_path_for(self.path)
        try:
            self.path.parent.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                if hasattr(os, "fchmod"):
                    os.fchmod(fd, FILE_MODE)  # exactly 0600 whatever the umask took away
                fh.write(json.dumps(logins, indent=2, sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fd)
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise self._refuse(f"cannot be written ({(exc.strerror or str(exc)).lower()})",
                               "make its folder writable by you, then try again") from None
