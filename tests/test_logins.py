"""The login store: a file only its owner can read, written whole, refused with one sentence when it is not right."""

import json
import os
import stat

import pytest

from sd_dataset.errors import DatasetError
from sd_dataset.http import Credentials
from sd_dataset.logins import LoginStore, standalone_login_file

pytestmark = pytest.mark.skipif(os.name == "nt", reason="file modes are POSIX")
KEY = "s3cret-key"


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def store(tmp_path):
    return LoginStore(tmp_path / "config" / "sd_dataset" / "logins.json")


def test_a_login_goes_in_and_comes_back(store):
    assert store.get("E621") == Credentials() and not store.has_key("E621")
    assert not store.path.exists()  # reading creates nothing
    store.put("E621", Credentials(" alice ", KEY))
    store.put("GELBOORU", Credentials("123", None))
    assert store.get("E621") == Credentials("alice", KEY) and store.has_key("E621")
    assert store.get("GELBOORU") == Credentials("123", None) and not store.has_key("GELBOORU")
    assert json.loads(store.path.read_text()) == {"E621": {"username": "alice", "api_key": KEY},
                                                  "GELBOORU": {"username": "123"}}
    store.forget("E621")
    store.forget("DANBOORU")  # nothing kept: nothing to do
    assert store.get("E621") == Credentials() and store.get("GELBOORU").username == "123"
    assert KEY not in repr(store.get("GELBOORU")) and KEY not in store.path.read_text()


def test_the_file_is_0600_from_its_creation_and_its_folder_0700(store, monkeypatch):
    checked = []
    replace = os.replace

    def replace_checking_the_temporary_file(src, dst):
        checked.append(mode(src))  # the name it is written under, before anyone could see the final one
        replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_checking_the_temporary_file)
    old_umask = os.umask(0)  # nothing taken away: the modes must come from the store itself
    try:
        store.put("E621", Credentials("alice", KEY))
        store.put("DANBOORU", Credentials("bob", KEY))
    finally:
        os.umask(old_umask)
    assert checked == [0o600, 0o600]
    assert mode(store.path) == 0o600 and mode(store.path.parent) == 0o700


def test_a_write_that_fails_leaves_the_old_file_whole(store, monkeypatch):
    store.put("E621", Credentials("alice", KEY))
    before = store.path.read_bytes()

    def no_room(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_room)
    with pytest.raises(DatasetError, match="cannot be written \\(no space left on device\\)"):
        store.put("E621", Credentials("alice", "new-key"))
    assert store.path.read_bytes() == before and os.listdir(store.path.parent) == ["logins.json"]


@pytest.mark.parametrize("text, problem", [
    ('{"E621": {"username": "alice", "api_key": "' + KEY, "is not valid JSON"),
    ('["alice", "' + KEY + '"]', "is not a file of logins"),
    ('{"E621": {"password": "' + KEY + '"}}', "is not a file of logins"),
    ('{"E621": "' + KEY + '"}', "is not a file of logins"),
])
def test_a_corrupt_file_is_one_sentence_and_never_overwritten(store, text, problem):
    store.path.parent.mkdir(parents=True)
    store.path.write_text(text)
    store.path.chmod(0o600)
    with pytest.raises(DatasetError) as caught:
        store.get("E621")
    message = str(caught.value)
    assert message.startswith(f"The login file {store.path} {problem}") and message.endswith("enter the logins again.")
    assert "\n" not in message and KEY not in message
    with pytest.raises(DatasetError, match=problem):
        store.put("DANBOORU", Credentials("bob", "other"))
    assert store.path.read_text() == text


def test_a_link_is_refused_and_left_alone(store, tmp_path):
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"E621": {"username": "alice", "api_key": KEY}}))
    target.chmod(0o600)
    store.path.parent.mkdir(parents=True)
    store.path.symlink_to(target)
    for call in (lambda: store.get("E621"), lambda: store.put("E621", Credentials("mallory", "theirs"))):
        with pytest.raises(DatasetError, match="is a link, which is never followed.*chmod 600"):
            call()
    assert store.path.is_symlink() and KEY in target.read_text()


@pytest.mark.parametrize("file_mode", [0o640, 0o604, 0o620], ids=oct)
def test_a_file_others_can_read_or_change_is_refused_with_the_fix(store, file_mode):
    store.put("E621", Credentials("alice", KEY))
    store.path.chmod(file_mode)
    with pytest.raises(DatasetError) as caught:
        store.has_key("E621")
    assert f"(mode {file_mode:o})" in str(caught.value) and f"run chmod 600 {store.path}" in str(caught.value)
    with pytest.raises(DatasetError, match="chmod 600"):
        store.forget("E621")
    assert mode(store.path) == file_mode and KEY in store.path.read_text()  # not "fixed" behind the user's back
    store.path.chmod(0o600)
    assert store.has_key("E621")


def test_something_not_a_file_is_refused(store):
    store.path.mkdir(parents=True)
    with pytest.raises(DatasetError, match="cannot be read|is not a regular file"):
        store.get("E621")


def test_the_standalone_file_follows_xdg_config_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert standalone_login_file() == tmp_path / "xdg" / "sd_dataset" / "logins.json"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for unset in ("", "relative/config"):  # the XDG spec ignores a relative value
        monkeypatch.setenv("XDG_CONFIG_HOME", unset)
        assert standalone_login_file() == tmp_path / "home" / ".config" / "sd_dataset" / "logins.json"
