"""The web UI glue: the ONLY module that imports the web UI's ``modules.*`` (AUTOMATIC1111 1.x; Forge, reForge).

It is imported only inside the web UI (by ``scripts/dataset_tab.py``) and every ``modules`` import sits
inside a function, so importing this module never needs the web UI.  It provides:

* :func:`register`: the settings section ("Dataset", under Training) and the Dataset tab, after moving API keys
  typed into the old settings out of them (:func:`move_keys_out_of_settings`);
* :func:`webui_host`: a :class:`~sd_dataset.host.Host` filled from ``shared.opts`` and ``cmd_opts``, whose
  logins the user asked to remember live in :func:`login_file`, never in the settings, and whose vocabularies are
  tag-autocomplete's tag lists when that extension is installed (:func:`tag_autocomplete_lists`);
* :class:`WebuiTrainer`: the tab's :class:`~sd_dataset.host.Trainer`.  It creates embeddings and
  hypernetworks with the web UI's own functions and trains through the web UI's own wrapper and queue
  (``call_queue.wrap_gradio_gpu_call`` around ``textual_inversion.ui.train_embedding`` /
  ``hypernetworks.ui.train_hypernetwork``, as its Train tab does), so progress, the Interrupt button and
  the GPU lock behave as there; the trainers' silent failures become one-sentence errors;
* :meth:`WebuiTrainer.supervisor_host` / :meth:`WebuiTrainer.supervise`: supervised training in segments;
* :class:`WebuiAesthetic`: CLIP aesthetic embeddings through the aesthetic-gradients extension's own
  ``generate_imgs_embd``, found loaded by :func:`aesthetic_gradients`, run through the same queue as training
  (:func:`_through_the_queue`);
* :class:`WebuiDeepbooru`: the web UI's own DeepDanbooru interrogator (``modules.deepbooru``) as a local tagger,
  offered by the Tag section beside a typed model folder.

Facts about the web UI this relies on are in ``webui-api.md``.
"""

from __future__ import annotations

import contextlib
import functools
import html
import importlib.util
import datetime
import inspect
import logging
import multiprocessing
import os
import re
import secrets
import socket
import string
import sys
import threading
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from .access import Access
from .boorus.base import UNCATEGORISED
from .errors import DatasetError
from .host import AESTHETIC_GRADIENTS_URL, CreateOptions, FoundVocabulary, Host
from .http import Credentials
from .logins import LoginStore
from .progress import Progress
from .runs import RunRegistry
from .tagger import Tagger, TaggerResult
from .tags import normalize_tag
from .training import EMBEDDING, HYPERNETWORK, KINDS, HostState, TrainRequest
from .wording import option

SECTION = ("sd_dataset", "Dataset")
CATEGORY = "training"
TAB_TITLE, TAB_ID = "Dataset", "sd_dataset"
OPT_ROOT = "sd_dataset_root"
OPT_RATE = "sd_dataset_api_rate"
CAPTION_OPTIONS = {  # setting → (default, label); the Tag section's defaults
    "sd_dataset_caption": ("txt", "Default caption: .txt files, file names, or both"),
    "sd_dataset_rating": (True, "Captions start with the rating"),
    "sd_dataset_artist": (True, "Captions name the artist (by <artist>)"),
    "sd_dataset_keep_underscores": (False, "Keep underscores in tags"),
    "sd_dataset_escape": (True, "Escape \\ ( ) [ ] in tags"),
}
HYPERNETWORK_SIZES = ["768", "320", "640", "1280"]  # the web UI's Create hypernetwork defaults (strings, as its UI)
POLL_SECONDS = 0.25
_RESULT = re.compile(r"Training (finished|interrupted) at (\d+) steps")
_ERROR = re.compile(r"<div class='error'>(.*?)</div>", re.S)
_NAME_OK = set(string.ascii_letters + string.digits + "._- ")
# gradio 3.41.2 serves any file under the web UI's folder and its data folder (the default --gradio-allowed-path) at
# /file=<path> to whoever can open the page, except paths with a part starting with a dot (measured: 200 for
# sd_dataset/logins.json, 403 for .sd_dataset/logins.json), so the logins live in a dot folder; gradio 4 (Forge)
# serves dot paths too, so app_started also puts the folder on gradio's blocked paths
LOGINS_FOLDER = ".sd_dataset"
# what marks the tag-autocomplete extension (DominikDoom/a1111-sd-webui-tagcomplete) whatever its folder is named; its
# tag lists lie in its tags/ folder
TAG_AUTOCOMPLETE_SCRIPT = Path("scripts", "tag_autocomplete_helper.py")
# The tab's training run lives as long as the web UI's process: Reload UI builds the tab and its host anew, and the
# page that comes back must still find the run (and refuse a second one).
TRAINING_RUNS = RunRegistry()
log = logging.getLogger(__name__)


# --- settings and the tab ------------------------------------------------------------------------------------------

def _accounts() -> List[Tuple[str, str, bool]]:
    """(env_prefix, account site, login is a user id) once per account, in SITES order."""
    from .boorus import SITES

    seen, accounts = set(), []
    for site in SITES.values():
        if site.env_prefix not in seen:
            seen.add(site.env_prefix)
            accounts.append((site.env_prefix, site.account_site, site.login_is_user_id))
    return accounts


def _user_key(prefix: str) -> str:
    return f"sd_dataset_{prefix.lower()}_username"


def _api_key_key(prefix: str) -> str:
    """The old password setting of an account's key, read only to move it out (:func:`move_keys_out_of_settings`)."""
    return f"sd_dataset_{prefix.lower()}_api_key"


def _key_status_key(prefix: str) -> str:
    return f"sd_dataset_{prefix.lower()}_login"


def login_file() -> Path:
    """``<the web UI's data folder>/.sd_dataset/logins.json`` (see :data:`LOGINS_FOLDER` for the dot)."""
    from modules import shared

    return Path(getattr(shared, "data_path", ".")) / LOGINS_FOLDER / "logins.json"


def _key_status(store: LoginStore, prefix: str, account: str) -> str:
    """The settings line for an account's API key: whether one is set and where (never the key), as at the last start
    or Reload UI."""
    where = f"<code>{html.escape(str(store.path))}</code>"
    try:
        remembered = store.has_key(prefix)
    except DatasetError as exc:
        return f"<b>{html.escape(account)} API key</b>: {html.escape(str(exc))}"
    if remembered:
        state = f"remembered in {where}, readable only by its owner"
    elif os.environ.get(f"{prefix}_API_KEY"):
        state = f"set by the environment ({prefix}_API_KEY)"
    else:
        state = "not set"
    return (f"<b>{html.escape(account)} API key</b>: {state}. Set it in the Dataset tab's Login fields (tick "
            f"Remember to keep it in {where}) or the environment ({prefix}_API_KEY); it is no setting, because the "
            "web UI serves every setting at /sdapi/v1/options.")


def settings_options() -> dict:
    """The settings section's options (``shared.OptionInfo``s), keyed by setting name.

    Usernames and user ids are settings: they are public (shown on the sites, sent in the User-Agent), so the web
    UI serving them at ``/sdapi/v1/options`` gives nothing away.  API keys are not: the web UI serves every
    setting's value there, password fields included (``restrict_api`` only stops setting one), so each account gets
    a line (``shared.OptionHTML``, never saved) that says whether a key is set and where logins live.
    """
    import gradio as gr
    from modules import shared

    info_params = inspect.signature(shared.OptionInfo).parameters
    status_line = getattr(shared, "OptionHTML", None)  # 1.6+; without it there is no line to show
    store = LoginStore(login_file())
    options = {
        OPT_ROOT: shared.OptionInfo("", "Default datasets folder (empty: datasets/ in the web UI's folder)"),
        OPT_RATE: shared.OptionInfo(0.0, "API requests per second (0: each site's polite rate; never above its "
                                         "limit)", gr.Number),
    }
    for key, (default, label) in CAPTION_OPTIONS.items():
        if key == "sd_dataset_caption":
            options[key] = shared.OptionInfo(default, label, gr.Radio, {"choices": ["txt", "filename", "both"]})
        else:
            options[key] = shared.OptionInfo(default, label)
    for prefix, account, user_id in _accounts():
        options[_user_key(prefix)] = shared.OptionInfo(
            "", f"{account} {'user id' if user_id else 'username'} (empty: {prefix}_{'USER_ID' if user_id else 'USERNAME'})")
        if status_line is not None:
            options[_key_status_key(prefix)] = status_line(_key_status(store, prefix, account))
    identifier = SECTION + (CATEGORY,) if "category_id" in info_params else SECTION
    return shared.options_section(identifier, options)


def on_ui_settings() -> None:
    from modules import shared

    for key, info in settings_options().items():
        shared.opts.add_option(key, info)


def on_ui_tabs():
    from .ui import build_ui

    return [(build_ui(webui_host()), TAB_TITLE, TAB_ID)]


def move_keys_out_of_settings(store: LoginStore) -> None:
    """Move API keys typed into this extension's old password settings into ``store``, out of the settings.

    The web UI serves every value of ``shared.opts.data`` at ``GET /sdapi/v1/options`` and puts it in Sysinfo, so
    such a key was readable by anyone who could reach the web UI.  The keys leave ``opts.data`` at once, and
    ``config.json`` is saved without them once the store holds them (until then it keeps them, so none is lost).
    A key the store already holds was typed later, in the tab, and wins.
    """
    from modules import errors, shared

    old = {prefix: str(shared.opts.data.pop(_api_key_key(prefix)) or "").strip()
           for prefix, _, _ in _accounts() if _api_key_key(prefix) in shared.opts.data}
    if not old:
        return
    try:
        moved = [prefix for prefix, key in old.items() if key and _remember_key(store, prefix, key)]
    except DatasetError as exc:
        errors.report(f"sd_dataset could not move the API keys out of its old settings: {exc} Until then they stay "
                      f"in {shared.config_filename}, but /sdapi/v1/options no longer shows them.")
        return
    if moved:
        log.warning("sd_dataset moved the API keys of %s out of the web UI's settings into %s.", ", ".join(moved),
                    store.path)
    try:
        shared.opts.save(shared.config_filename)
    except (AssertionError, OSError) as exc:  # --freeze-settings asserts
        errors.report(f"sd_dataset could not save {shared.config_filename} without its old API key settings ({exc}); "
                      f"delete the lines {', '.join(_api_key_key(p) for p in old)} from it by hand.")


def _remember_key(store: LoginStore, prefix: str, key: str) -> bool:
    """Put ``key`` in ``store`` beside the login's remembered username, unless it holds a key already; True if put."""
    if store.has_key(prefix):
        return False
    store.put(prefix, Credentials(store.get(prefix).username, key))
    return True


def register() -> None:
    """Move old API key settings into the login store, then register the settings section and the Dataset tab
    (called by ``scripts/dataset_tab.py`` at load, after the web UI loaded config.json; with ``--nowebui`` too,
    where no settings callback runs but ``/sdapi/v1/options`` does)."""
    from modules import script_callbacks

    move_keys_out_of_settings(LoginStore(login_file()))
    script_callbacks.on_ui_settings(on_ui_settings)
    script_callbacks.on_ui_tabs(on_ui_tabs)
    script_callbacks.on_app_started(on_app_started)


def on_app_started(demo, app) -> None:
    """Refuse calls that bring forged request headers (see ``ui.RefuseForgedRequests``), and keep the login folder
    off gradio's ``/file=``; the web UI has already replaced gradio's allow-all CORS with its own, from
    ``--cors-allow-origins``.  ``demo`` is None with ``--nowebui``, where gradio serves no files."""
    from .ui import harden_app

    harden_app(app, strip_cors=False)
    if demo is not None:
        demo.blocked_paths = list(demo.blocked_paths or []) + [str(login_file().parent.resolve())]


def webui_access() -> Access:
    """Who may drive the tab here: its own page, and the pages ``--cors-allow-origins`` and
    ``--cors-allow-origins-regex`` allow; the web UI answers as ``--server-name`` and, listening on the network,
    as this computer's own names."""
    from modules import shared

    cmd = shared.cmd_opts
    origins = tuple(o.strip() for o in (getattr(cmd, "cors_allow_origins", None) or "").split(",") if o.strip())
    server_name = getattr(cmd, "server_name", None)
    names = {server_name} if server_name else set()
    if getattr(cmd, "listen", False) or server_name:
        names |= {socket.gethostname(), socket.getfqdn()}
    return Access(origins=origins, origin_regex=getattr(cmd, "cors_allow_origins_regex", None) or None,
                  host_names=tuple(sorted(n for n in names if n)))


# --- the host ------------------------------------------------------------------------------------------------------

def host_name() -> str:
    if importlib.util.find_spec("modules_forge") is not None:
        return "Forge"
    return "AUTOMATIC1111 web UI"


def _trainer_functions(kind: str):
    """(low-level train function, ui-level train function, create function), or None where this web UI lacks one."""
    try:
        if kind == EMBEDDING:
            from modules.textual_inversion import textual_inversion as low
            from modules.textual_inversion import ui
            names = ("train_embedding", "train_embedding", "create_embedding")
        else:
            from modules.hypernetworks import hypernetwork as low
            from modules.hypernetworks import ui
            names = ("train_hypernetwork", "train_hypernetwork", "create_hypernetwork")
        from modules import call_queue
    except ImportError:
        return None
    found = (getattr(low, names[0], None), getattr(ui, names[1], None), getattr(low, names[2], None))
    if None in found or not hasattr(call_queue, "wrap_gradio_gpu_call"):
        return None
    return found


def _without_applied_hypernetworks(ui_train: Callable) -> Callable:
    """``ui_train`` run with no hypernetwork applied, and the applied ones put back after.

    The web UI applies ``shared.loaded_hypernetworks`` to every forward pass, and its hypernetwork trainer leaves the
    one it trained there; an embedding trained next would learn against it (seen in a real 1.10.1: a diverged
    hypernetwork made every later embedding loss NaN).  Inside the queue call, so a generation never sees the swap.
    """
    @functools.wraps(ui_train)
    def isolated(*args):
        from modules import shared

        applied = shared.loaded_hypernetworks
        shared.loaded_hypernetworks = []
        try:
            return ui_train(*args)
        finally:
            shared.loaded_hypernetworks = applied
    return isolated


def available_kinds() -> List[str]:
    return [kind for kind in KINDS if _trainer_functions(kind) is not None]


def no_training_reason(name: str) -> str:
    return (f"This {name} has no built-in textual-inversion or hypernetwork trainer (Forge removed them), so the Train "
            "section checks the run and shows what it would hand the trainer; train in AUTOMATIC1111 1.x instead.")


def _opt(name: str, default=None):
    from modules import shared

    return getattr(shared.opts, name, default) if shared.opts is not None else default


def webui_host() -> Host:
    """A :class:`Host` from the web UI's settings and folders; ``trainer`` None where it cannot train."""
    from modules import shared

    name = host_name()
    root = str(_opt(OPT_ROOT, "") or "").strip()
    datasets_root = Path(root).expanduser() if root else Path(getattr(shared, "data_path", ".")) / "datasets"
    rate = _opt(OPT_RATE, 0) or 0
    try:
        rate = float(rate) if float(rate) > 0 else None
    except (TypeError, ValueError):
        rate = None

    logins = LoginStore(login_file())

    def credentials(site: str, env_prefix: str) -> Credentials:
        """The remembered login, else the username setting; the environment fills what is still missing."""
        stored = logins.get(env_prefix)
        return Credentials.resolve(stored.username or _opt(_user_key(env_prefix), "") or None, stored.api_key,
                                   env_prefix)

    kinds = available_kinds()
    templates = getattr(shared.cmd_opts, "textual_inversion_templates_dir", None)
    host = Host(name=name, datasets_root=datasets_root, templates_dir=Path(templates) if templates else None,
                credentials=credentials, api_rate=rate, trainer=WebuiTrainer(kinds, name) if kinds else None,
                caption_defaults={key[len("sd_dataset_"):]: _opt(key, default)
                                  for key, (default, _) in CAPTION_OPTIONS.items()},
                augment_executor=augment_executor(), logins=logins, access=webui_access(),
                vocabularies=tag_autocomplete_lists(), runs=TRAINING_RUNS, taggers=webui_taggers())
    if not kinds:
        host.no_training_reason = no_training_reason(name)
    aesthetic = aesthetic_gradients()
    host.aesthetic = WebuiAesthetic(aesthetic) if aesthetic is not None else None
    if aesthetic is None:
        host.no_aesthetic_reason = no_aesthetic_reason()
    return host


def tag_autocomplete_lists() -> List[FoundVocabulary]:
    """tag-autocomplete's tag lists whose numbering their names tell (``e621.csv``, ``danbooru.csv``,
    ``danbooru_e621_merged.csv``…), when the extension is installed and enabled; its other files (translations,
    extra tags, other sites' lists) are no model vocabulary."""
    from modules import extensions

    from .tags import numbering_from_name

    found = []
    for extension in extensions.active():
        folder = Path(extension.path)
        if not (folder / TAG_AUTOCOMPLETE_SCRIPT).is_file():
            continue
        for path in sorted((folder / "tags").glob("*.csv")):
            numbering = numbering_from_name(path.name)
            if numbering is not None and path.is_file():
                found.append(FoundVocabulary(path, numbering))
    return found


DEEPBOORU = "DeepDanbooru (the web UI's interrogator)"


def webui_taggers() -> dict:
    """The web UI's own taggers by the name the Tag section shows: its DeepDanbooru, where it has one."""
    try:
        found = importlib.util.find_spec("modules.deepbooru") is not None
    except (ImportError, ValueError):
        found = False
    return {DEEPBOORU: WebuiDeepbooru} if found else {}


class WebuiDeepbooru(Tagger):
    """The web UI's DeepDanbooru interrogator as the tag step's local tagger.

    ``model.tag_multi(pil_image, force_disable_ranks=True)`` gives its tags as one text, shaped by the web UI's
    Interrogate settings (its score threshold, spaces, escapes, order, filter list); they are read back into tag
    names.  It says neither categories nor a rating (it drops the ``rating:`` tags), so its tags are of unknown
    category, which the vocabulary sorts, and its captions have no rating part.  A batch holds the web UI's queue
    lock, as its own Interrogate button does, and moves the model to the GPU once (``start``/``stop``).
    """

    name = "DeepDanbooru"

    def __init__(self):
        from modules import deepbooru

        self._model = deepbooru.model
        threshold = float(_opt("interrogate_deepbooru_score_threshold", 0.5))
        self.thresholds = {UNCATEGORISED: threshold}
        # another threshold or filter list gives other tags: an earlier run's tag sidecars then do not answer
        self.fingerprint = f"deepbooru:{threshold}:{_opt('deepbooru_filter_tags', '')}"
        self._held = None

    def __enter__(self) -> "WebuiDeepbooru":
        from modules import call_queue

        stack = contextlib.ExitStack()
        stack.enter_context(call_queue.queue_lock)
        try:
            self._start()
        except BaseException:
            stack.close()
            raise
        stack.callback(self._model.stop)
        self._held = stack
        return self

    def _start(self) -> None:
        """The web UI's ``start``, which downloads the model on first use.  Its loader swallows a failed download,
        then fails reading the missing file after it has made the network, which every later ``start`` takes as
        loaded and tags with, untrained: such a network is thrown away so that the next press loads again."""
        from modules import paths

        folder = Path(paths.models_path) / "torch_deepdanbooru"
        if self._model.model is not None and not _has_file(folder, ".pt"):  # left by a failed load, maybe Interrogate's
            self._model.model = None
        loaded = self._model.model is not None
        try:
            self._model.start()
        except Exception as exc:
            if not loaded:
                self._model.model = None
            if _has_file(folder, ".pt"):
                raise
            raise DatasetError(f"The web UI's DeepDanbooru has no model: {folder} holds no .pt file and the web UI "
                               "could not download model-resnet_custom_v3.pt into it (its console says why); put "
                               f"that file there, or give a WD14 or Z3D model folder in {option('tagger')}.") from exc

    def __exit__(self, *exc) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.close()  # stop, then release the lock

    def tag(self, image) -> TaggerResult:
        text = self._model.tag_multi(image, force_disable_ranks=True)
        tags = list(dict.fromkeys(normalize_tag(part) for part in text.split(", ") if part.strip()))
        return TaggerResult(tags={UNCATEGORISED: tags} if tags else {}, thresholds=dict(self.thresholds),
                            model=self.name)


def _has_file(folder: Path, suffix: str) -> bool:
    """Whether ``folder`` or a folder in it holds a file ending in ``suffix``, as the web UI's model loader looks."""
    return folder.is_dir() and any(path.is_file() for path in folder.rglob(f"*{suffix}"))


def augment_executor() -> Optional[Callable[[int], Executor]]:
    """Threads where processes are spawned (Windows, macOS): the web UI takes this extension's folder off
    ``sys.path`` after loading it, so a spawned process could not import the package; forked ones inherit it."""
    if multiprocessing.get_start_method(allow_none=False) == "fork":
        return None
    return lambda workers: ThreadPoolExecutor(max_workers=workers, thread_name_prefix="augment")


# --- the trainer ---------------------------------------------------------------------------------------------------

def _dropout_structure(layers: List[float]) -> str:
    """A dropout structure for ``layers`` as the web UI wants it (a comma string): 0 first, then rising, 0.05 apart."""
    values = [0.0] + [min(0.3, round(0.05 * i, 2)) for i in range(1, len(layers))]
    return ", ".join(f"{v:g}" for v in values)


def _layers(text: str) -> List[float]:
    try:
        layers = [float(x.strip()) for x in str(text).split(",")]
    except ValueError:
        layers = []
    if len(layers) < 2 or layers[0] != 1 or layers[-1] != 1 or any(v <= 0 for v in layers):
        raise DatasetError(f'The layer structure "{text}" is not a list of sizes that starts and ends with 1; '
                           'enter e.g. "1, 2, 1".')
    return layers


@dataclass(frozen=True)
class _Called:
    """One call of the web UI's train function: the steps it trained, and whether it was interrupted."""

    start: int
    end: int
    interrupted: bool
    saved: Path
    when: datetime.datetime  # when it began: the trainer's log folder is named by this day


def _follow(worker: threading.Thread, ours: Callable[[], bool], progress: Progress,
            began: Callable[[], int]) -> Tuple[Optional[int], bool]:
    """Until ``worker`` ends, pass the web UI's step to ``progress`` and its Interrupt to the web UI, while (and only
    while) the call's own function runs (``ours()``); ``began()`` when it starts, the step it starts from.
    (The last step passed on, or None when it never was looked at running; whether Interrupt was passed on.)"""
    from modules import shared

    reached, asked = None, False
    while worker.is_alive():
        worker.join(POLL_SECONDS)
        if not ours():
            continue  # waiting in the queue, or done: the state is someone else's
        if reached is None:
            reached = began()
        state = shared.state
        if progress.cancelled and not asked:
            state.interrupt()
            asked = True
        if isinstance(state.job_no, int) and state.job_no > reached:
            progress.advance(state.job_no - reached)
            reached = state.job_no
    return reached, asked


@dataclass
class _Queued:
    """One call through the web UI's queue (:func:`_through_the_queue`): the wrapper's outputs, or what it let
    through; whether the call's own function ran; the last step passed on to progress (None: never seen running);
    whether Interrupt was passed on to the web UI."""

    result: Optional[tuple] = None
    error: Optional[BaseException] = None
    ran: bool = False
    reached: Optional[int] = None
    asked: bool = False

    def error_text(self) -> Optional[str]:
        """The web UI's own error line (its wrapper turns an exception into an error div), unescaped, or None."""
        error = _ERROR.search(" ".join(str(part) for part in self.result or [] if part))
        return html.unescape(error.group(1)).strip().rstrip(".") if error else None


def _through_the_queue(fn: Callable, args: list, progress: Progress, what: str,
                       enter: Optional[Callable[[], None]] = None,
                       began: Callable[[], int] = lambda: 0) -> _Queued:
    """Run ``fn(id_task, *args)`` as the web UI runs its own GPU jobs, and wait for it: through
    ``call_queue.wrap_gradio_gpu_call`` (the queue lock its generations, trainings and model loads hold,
    ``state.begin/end``, a task id for its progress API), in a worker thread followed by :func:`_follow`.

    ``enter()`` runs first inside the lock, where nothing else touches the model any more.  An Interrupt pressed
    while the call waited for the queue is passed on as the call starts: the wrapper's ``state.begin`` clears any
    interrupt from before, so the web UI's state only becomes this call's once it runs.
    """
    from modules import call_queue, shared

    queued, running = _Queued(), threading.Event()

    @functools.wraps(fn)
    def in_queue(*call_args):
        if enter is not None:
            enter()
        if progress.cancelled:
            shared.state.interrupt()
        queued.ran = True
        running.set()
        try:
            return fn(*call_args)
        finally:
            running.clear()

    wrapped = call_queue.wrap_gradio_gpu_call(in_queue, extra_outputs=[None])
    id_task = f"task({secrets.token_hex(8)})"

    def work():
        try:
            queued.result = wrapped(id_task, *args)
        except BaseException as exc:  # the wrapper catches Exceptions; anything else is reported here
            queued.error = exc

    worker = threading.Thread(target=work, name=f"sd_dataset {what}", daemon=True)
    worker.start()
    queued.reached, queued.asked = _follow(worker, running.is_set, progress, began)
    return queued


def _trained_to(request: TrainRequest, queued: _Queued) -> Tuple[int, bool]:
    """The step a finished call of the web UI's train function stopped at, and whether it says it was interrupted;
    its refusals and silences become DatasetErrors."""
    if queued.error is not None:
        raise DatasetError(f"The web UI's trainer failed ({queued.error!r}); see its console.")
    refusal = queued.error_text()
    if refusal:
        raise DatasetError(f"The web UI refused to train the {request.kind} ({refusal}); fix that and start again.")
    parts = " ".join(str(part) for part in queued.result or [] if part)
    match = _RESULT.search(html.unescape(parts))
    if match is None or not queued.ran:
        raise DatasetError(f"The web UI's trainer gave no result for {request.name.strip()} (see its console); check "
                           "the console and start again.")
    return int(match.group(2)), match.group(1) == "interrupted"


def _loss_warning(request: TrainRequest, called: _Called) -> str:
    """Nothing when every loss the call logged is finite; else what the trainer's own report hides: a run whose
    every loss was NaN learned nothing (a DatasetError), one with some is a warning."""
    from .lossfile import loss_health
    from .supervisor import trainer_log_folder, trainer_loss_csv

    folder = trainer_log_folder(request.log_directory, request.name.strip(), called.when)
    health = loss_health(trainer_loss_csv(folder, request.kind), called.start, called.end)
    if not health.nonfinite:
        return ""
    what = f"the {request.kind} {request.name.strip()}"
    if health.nonfinite == health.logged:
        raise DatasetError(f"The web UI's trainer ran {what} from step {called.start} to {called.end}, but every loss "
                           f"it logged ({health.logged}) is NaN or infinite, so {called.saved} learned nothing usable; "
                           "train a new one at a lower rate, or tick Supervised, which goes back to the last good "
                           "copy when the loss is not finite.")
    return (f"\nwarning: {health.nonfinite} of the {health.logged} losses logged are NaN or infinite, the first at "
            f"step {health.first_bad}: {called.saved} may be ruined; look at a preview image, or train Supervised, "
            "which goes back to the last good copy when the loss is not finite")


class WebuiTrainer:
    """The tab's :class:`~sd_dataset.host.Trainer` inside the web UI."""

    def __init__(self, kinds: Optional[List[str]] = None, name: str = "AUTOMATIC1111 web UI"):
        self.kinds = list(KINDS if kinds is None else kinds)
        self.name = name

    # -- facts ------------------------------------------------------------------------------------------------
    def _require(self, kind: str):
        functions = _trainer_functions(kind) if kind in self.kinds else None
        if functions is None:
            raise DatasetError(f"This {self.name} cannot train a {kind} (its trainer is missing); train in "
                               "AUTOMATIC1111 1.x instead.")
        return functions

    @staticmethod
    def _embedding_db():
        from modules import sd_hijack

        return sd_hijack.model_hijack.embedding_db

    def _reload(self, kind: str, force: bool = False) -> None:
        from modules import shared

        if kind == EMBEDDING:
            self._embedding_db().load_textual_inversion_embeddings(force_reload=force)
        elif hasattr(shared, "reload_hypernetworks"):
            shared.reload_hypernetworks()

    def names(self, kind: str) -> List[str]:
        from modules import shared

        try:
            self._reload(kind)
        except Exception:  # the database needs a loaded model; list what is known
            pass
        if kind == EMBEDDING:
            return sorted(self._embedding_db().word_embeddings)
        return sorted(getattr(shared, "hypernetworks", {}) or {})

    def current_step(self, kind: str, name: str) -> Optional[int]:
        """The step the embedding (as loaded) or hypernetwork (as saved) is at; None when it is unknown."""
        from modules import shared

        if kind == EMBEDDING:
            embedding = self._embedding_db().word_embeddings.get(name)
            return None if embedding is None else int(embedding.step or 0)
        path = (getattr(shared, "hypernetworks", {}) or {}).get(name)
        if path is None:
            return None
        from modules.hypernetworks import hypernetwork

        network = hypernetwork.Hypernetwork()
        network.load(path)
        return int(network.step or 0)

    def current_file(self, kind: str, name: str) -> Path:
        """Where the trainer saves at the end of a call (``embeddings_dir``/``hypernetwork_dir`` + ``<name>.pt``)."""
        from modules import shared

        folder = shared.cmd_opts.embeddings_dir if kind == EMBEDDING else shared.cmd_opts.hypernetwork_dir
        return Path(folder) / f"{name}.pt"

    def _templates_dir(self) -> Path:
        from modules import shared

        return Path(shared.cmd_opts.textual_inversion_templates_dir)

    def _template_target(self, path: Path) -> Optional[Path]:
        """Where ``path`` must be copied for the web UI to list it (None: it is in the templates folder already)."""
        folder = self._templates_dir().resolve()
        try:
            path.resolve().relative_to(folder)
            return None
        except ValueError:
            return folder / path.name

    def host_state(self, request: TrainRequest) -> HostState:
        from modules import shared
        from modules.textual_inversion import textual_inversion

        state = HostState()
        model = getattr(shared, "sd_model", None)
        if model is not None:
            state.model_is_sdxl = bool(getattr(model, "is_sdxl", False) or getattr(model, "is_sd3", False))
            # training uses the loaded model; its CheckpointInfo's title is what the checkpoint list shows
            state.checkpoint = getattr(getattr(model, "sd_checkpoint_info", None), "title", None)
        for kind in KINDS:
            try:
                self._reload(kind)
            except Exception:
                pass
        state.loaded_embeddings = list(self._embedding_db().word_embeddings)
        state.hypernetworks = list(getattr(shared, "hypernetworks", {}) or {})
        if request.kind in KINDS and str(request.name or "").strip():
            try:
                state.current_step = self.current_step(request.kind, request.name.strip())
            except Exception:
                state.current_step = None
        state.training_write_csv_every = _opt("training_write_csv_every")
        state.dataset_filename_word_regex = _opt("dataset_filename_word_regex")
        state.dataset_filename_join_string = _opt("dataset_filename_join_string")
        state.save_training_settings_to_txt = _opt("save_training_settings_to_txt")
        state.lowvram = bool(getattr(shared.cmd_opts, "lowvram", False))
        names = set(textual_inversion.list_textual_inversion_templates())
        template = Path(str(request.template_file or ""))
        if template.name and template.is_file():
            target = self._template_target(template)
            if target is not None and (not target.exists() or target.read_bytes() == template.read_bytes()):
                names.add(template.name)  # training copies it into the templates folder first
        state.template_names = sorted(names)
        return state

    # -- actions ----------------------------------------------------------------------------------------------
    def create(self, kind: str, name: str, options: CreateOptions) -> str:
        """Create the embedding or hypernetwork inside the web UI's queue lock, which its own jobs hold (a
        generation, a training, loading another checkpoint): creating one touches the loaded model."""
        from modules import call_queue

        _, _, create = self._require(kind)
        name = str(name or "").strip()
        if not name or set(name) - _NAME_OK:
            raise DatasetError(f'The name "{name}" has characters the web UI drops from file names; use only letters, '
                               "digits, dots, hyphens, underscores and spaces.")
        with call_queue.queue_lock:
            return self._create(create, kind, name, options)

    def _create(self, create: Callable, kind: str, name: str, options: CreateOptions) -> str:
        from modules import shared

        try:
            if kind == EMBEDDING:
                vectors = int(options.vectors_per_token)
                if vectors < 1:
                    raise DatasetError(f"Vectors per token must be 1 or more, not {vectors}; enter e.g. 1.")
                filename = create(name, vectors, bool(options.overwrite), init_text=options.init_text)
                self._reload(EMBEDDING, force=True)
                if name not in self._embedding_db().word_embeddings:
                    raise DatasetError(f"The web UI wrote {filename} but cannot load it (its console says why; a torch "
                                       "newer than the web UI supports is a known cause); fix that and start again.")
                return f"created embedding {name} ({filename}), {vectors} vector(s) per token, from \"{options.init_text}\""
            layers = _layers(options.layer_structure)
            sizes = list(HYPERNETWORK_SIZES)
            if getattr(getattr(shared, "sd_model", None), "is_sd2", False):
                sizes.append("1024")
            create(name, sizes, bool(options.overwrite), options.layer_structure, options.activation,
                   options.weight_init, bool(options.layer_norm), bool(options.dropout),
                   _dropout_structure(layers) if options.dropout else None)
            self._reload(HYPERNETWORK)
        except AssertionError as exc:
            if "already exists" in str(exc):
                article = "An" if kind == EMBEDDING else "A"
                raise DatasetError(f'{article} {kind} named "{name}" already exists; untick "Create new" to train it, '
                                   'tick "Overwrite an existing one", or choose another name.') from None
            raise DatasetError(f"The web UI could not create the {kind} {name} ({exc}); check the options.") from None
        return f"created hypernetwork {name} (layers {options.layer_structure}, {options.activation})"

    def use_template(self, path) -> None:
        """Make the web UI list the template at ``path`` (copied into its templates folder when it lies elsewhere)."""
        from modules.textual_inversion import textual_inversion

        from .files import atomic_write_bytes

        path = Path(path)
        target = self._template_target(path)
        if target is not None:
            data = path.read_bytes()
            if target.exists() and target.read_bytes() != data:
                raise DatasetError(f"The web UI's templates folder already has a different {path.name}, which it would "
                                   f"use instead of {path}; rename the template or write it into {target.parent}.")
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(target, data)
        textual_inversion.list_textual_inversion_templates()

    # -- training ---------------------------------------------------------------------------------------------
    def _positional(self, low: Callable, request: TrainRequest) -> list:
        """The train function's arguments after ``id_task``, in its own order, by name."""
        kwargs = request.webui_kwargs()
        names = list(inspect.signature(low).parameters)[1:]
        missing = [n for n in names if n not in kwargs]
        if missing:
            raise DatasetError(f"This web UI's {request.kind} trainer takes {', '.join(missing)}, which this extension "
                               "does not know; update the web UI to 1.7 or later.")
        return [kwargs[n] for n in names]

    def _call(self, request: TrainRequest, progress: Progress,
              total: Optional[Callable[[int], int]] = None) -> "_Called":
        """Run the web UI's train function once, through its queue; ``total(start)``, when given, is how many steps
        the call trains from the step it starts at, for ``progress``.

        The web UI's progress state (``shared.state``) is global and its job name is the same for every training
        (another tab's, the API's), so the call is known by what it stored itself: only while its own function runs
        inside the queue lock are the state's step and its interrupt this call's.  The step it starts from is read
        there too, where nothing else trains the file any more.
        """
        low, ui_train, _ = self._require(request.kind)
        name = request.name.strip()
        self.use_template(request.template_file)
        if self.current_step(request.kind, name) is None:
            raise DatasetError(f'The web UI has no {request.kind} "{name}"; create it first.')
        args = self._positional(low, request)
        saved = self.current_file(request.kind, name)
        before = saved.stat().st_mtime_ns if saved.exists() else None
        outcome: dict = {}

        def enter():
            outcome["start"] = self.current_step(request.kind, name)
            outcome["when"] = datetime.datetime.now()  # the trainer names its log folder by this day

        def began() -> int:
            start = outcome["start"] or 0
            if total is not None:
                progress.start(total(start), f"training the {request.kind} {name}")
            return start

        queued = _through_the_queue(_without_applied_hypernetworks(ui_train), args, progress,
                                    f"train-{request.kind}", enter, began)
        end, interrupted = _trained_to(request, queued)
        reached = queued.reached
        if reached is None:  # it ran between two looks
            reached = began()
        if reached < end:
            progress.advance(end - reached)
        start = outcome["start"] or 0
        if end > start and before is not None and saved.exists() and saved.stat().st_mtime_ns == before:
            raise DatasetError(f"The web UI's trainer reached step {end} but did not save {saved} (it logs the cause, "
                               "such as an error while training, only in its console); fix that and train again.")
        return _Called(start, end, interrupted or queued.asked, saved, outcome["when"])

    @staticmethod
    def _last_step(request: TrainRequest, start: int) -> int:
        """The step the trainer stops at, training from ``start``."""
        from .schedule import parse, plan

        try:
            return plan(parse(request.learn_rate), int(request.steps), start).last_step
        except (DatasetError, TypeError, ValueError):
            return int(request.steps)

    def train(self, request: TrainRequest, progress: Progress) -> str:
        name = request.name.strip()
        progress.start(None, "waiting for the web UI's queue")
        try:
            called = self._call(request, progress, lambda start: max(0, self._last_step(request, start) - start))
        finally:
            progress.close()
        start, end, saved = called.start, called.end, called.saved
        last = self._last_step(request, start)
        if called.interrupted:
            return (f"interrupted at step {end}: the {request.kind} {name} is saved at step {end} in {saved}; train "
                    "again to go on from there")
        if end <= start:
            raise DatasetError(f"The web UI's trainer stopped at step {end} without training (it logs the cause, such "
                               "as an out-of-memory error, only in its console); fix what the console shows and train "
                               "again.")
        if end < last:
            raise DatasetError(f"The web UI's trainer stopped at step {end}, before step {last}, without being "
                               "interrupted (it logs the cause only in its console); fix that and train again to go on.")
        trained = f"trained the {request.kind} {name} from step {start} to {end}; saved to {saved}"
        return trained + _loss_warning(request, called)

    # -- supervised training ----------------------------------------------------------------------------------
    def supervisor_host(self, request: TrainRequest, progress: Optional[Progress] = None):
        """The :class:`sd_dataset.supervisor.TrainerHooks` of this web UI for ``request``'s embedding or hypernetwork."""
        from modules import shared

        from . import supervisor

        kind, name = request.kind, request.name.strip()
        self._require(kind)
        quiet = Progress(progress.cancel_event if progress is not None else None)  # the supervisor shows progress

        def train_segment(segment: TrainRequest, rate: str, end_step: int):
            self._call(segment, quiet)
            folder = supervisor.trainer_log_folder(segment.log_directory, name)
            copies = sorted((folder / f"{kind}s").glob("*.pt"), key=lambda p: p.stat().st_mtime_ns)
            images = sorted((folder / "images").glob("*.png"), key=lambda p: p.stat().st_mtime_ns)
            return supervisor.SegmentResult(step=self.current_step(kind, name) or 0,
                                            loss_csv=supervisor.trainer_loss_csv(folder, kind),
                                            current_file=self.current_file(kind, name), log_folder=folder,
                                            copy=copies[-1] if copies else None, preview=images[-1] if images else None)

        def restore_copy(path) -> None:
            supervisor.restore_file(path, self.current_file(kind, name))
            self._reload(kind, force=True)

        def set_csv_every(n: int) -> int:
            previous = _opt("training_write_csv_every", 500)
            shared.opts.training_write_csv_every = int(n)  # for this run only: not saved
            return int(previous or 0)

        return supervisor.TrainerHooks(train_segment=train_segment, restore_copy=restore_copy,
                                       set_csv_every=set_csv_every,
                                       current_step=lambda: self.current_step(kind, name) or 0,
                                       current_file=lambda: self.current_file(kind, name))

    def supervise(self, request: TrainRequest, knobs, progress: Progress, on_decision=None):
        """A supervised run (see :mod:`sd_dataset.supervisor`); returns its :class:`RunSummary`."""
        from .supervisor import Supervisor

        self.use_template(request.template_file)
        return Supervisor(request, self.supervisor_host(request, progress), knobs, progress,
                          on_decision=on_decision).run()


# --- the aesthetic-gradients extension -----------------------------------------------------------------------------

# its scripts/aesthetic.py imports this module by its bare name while the web UI has the extension's folder on sys.path
AESTHETIC_MODULE = "aesthetic_clip"
AESTHETIC_NONE = "None"  # the first entry of the extension's list: no aesthetic embedding
AESTHETIC_NAME_MAX = 120
_AESTHETIC_PARTIAL = ".sd_dataset-partial-"


def aesthetic_gradients():
    """The aesthetic-gradients extension's ``aesthetic_clip`` module, when the extension is installed, enabled and
    loaded; else None.

    It is found, never imported: the module names its embeddings folder after ``scripts.basedir()`` at import, which
    is the extension's folder only while the web UI loads the extension's script.  One left in ``sys.modules`` by an
    extension disabled since (Reload UI keeps modules) does not count.
    """
    from modules import extensions

    module = sys.modules.get(AESTHETIC_MODULE)
    if module is None or not all(hasattr(module, attr) for attr in
                                 ("generate_imgs_embd", "update_aesthetic_embeddings", "aesthetic_embeddings_dir")):
        return None
    home = Path(getattr(module, "__file__", "") or ".").resolve().parent
    if not any(Path(extension.path).resolve() == home for extension in extensions.active()):
        return None
    return module


def no_aesthetic_reason() -> str:
    return ("This web UI lacks the aesthetic-gradients extension that makes CLIP aesthetic embeddings: install it from "
            f"Extensions → Install from URL with {AESTHETIC_GRADIENTS_URL} and restart the web UI.")


def _aesthetic_name(text) -> str:
    """The name as the extension can list it: it keeps no other characters safe in a file name, drops every ".pt"
    from the names it lists (``f.replace(".pt", "")``), and its list's first entry is "None"."""
    name = str(text or "").strip()
    if not name:
        raise DatasetError("Give the aesthetic embedding a name first, e.g. red_panda_style.")
    if set(name) - _NAME_OK:
        raise DatasetError(f'The name "{name}" has characters an aesthetic embedding cannot be named with; use only '
                           "letters, digits, dots, hyphens, underscores and spaces.")
    if ".pt" in name or name == AESTHETIC_NONE:
        raise DatasetError(f'The aesthetic-gradients extension cannot list an embedding named "{name}" (it drops ".pt" '
                           'from names and keeps "None" for no embedding); choose another name.')
    if len(name) > AESTHETIC_NAME_MAX:
        raise DatasetError(f"The name is {len(name)} characters long, and an aesthetic embedding's may have at most "
                           f"{AESTHETIC_NAME_MAX}; choose a shorter one.")
    return name


def _aesthetic_batch(value) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = 0.0
    if not (number >= 1 and number.is_integer()):
        raise DatasetError(f"The batch size must be a whole number of 1 or more, not {value}; enter e.g. 16.")
    return int(number)


def _aesthetic_taken(name: str) -> DatasetError:
    return DatasetError(f'An aesthetic embedding named "{name}" already exists; tick Overwrite to replace it, or '
                        "choose another name.")


def _sd1_clip() -> Optional[str]:
    """The name of the loaded model's CLIP, which the extension loads as its CLIPModel; None where the model has
    none it can (SD2's OpenCLIP and SDXL's conditioner lack ``wrapped.transformer``)."""
    from modules import shared

    try:
        return str(shared.sd_model.cond_stage_model.wrapped.transformer.name_or_path)
    except AttributeError:
        return None


class WebuiAesthetic:
    """The tab's :class:`~sd_dataset.host.AestheticEmbedder`: the aesthetic-gradients extension's own
    ``generate_imgs_embd(name, folder, batch_size)``, run through the web UI's queue as the trainer runs.

    The extension writes ``<its folder>/aesthetic_embeddings/<name>.pt`` as it ends, also when interrupted (then an
    average of only the batches read) and over any file of that name; so it writes a partial name here, renamed into
    place only when it read the whole folder.
    """

    def __init__(self, module):
        self.module = module

    @property
    def folder(self) -> Path:
        return Path(self.module.aesthetic_embeddings_dir)

    def names(self) -> List[str]:
        """The extension's list as it stands (read from its folder at start, by its 🔄 buttons and after a make):
        what generation looks a chosen name up in."""
        return sorted(name for name in self.module.aesthetic_embeddings if name != AESTHETIC_NONE)

    def _images(self, folder: Path) -> List[str]:
        """The images the extension reads in ``folder`` (its own rule: these file name endings, no subfolders), each
        one checked to open, since one it cannot open stops it with nothing saved."""
        from PIL import Image

        if not folder.is_dir():
            raise DatasetError(f"The training folder {folder} does not exist; run 3 · Augment first, or type the folder "
                               "of your images in its Training folder box.")
        images = sorted(self.module.get_all_images_in_folder(str(folder)))
        if not images:
            raise DatasetError(f"{folder} has no .png, .jpg, .jpeg, .gif, .tiff or .webp image, the only ones the "
                               "aesthetic-gradients extension reads (it does not look into subfolders); run 3 · Augment "
                               "first or choose the folder that holds the images.")
        broken = []
        for path in images:
            try:
                with Image.open(path) as image:
                    image.verify()
            except Exception:
                broken.append(Path(path).name)
        if broken:
            raise DatasetError(f"{len(broken)} file(s) in {folder} cannot be read as images and would stop the "
                               f"aesthetic-gradients extension with nothing saved ({', '.join(broken[:3])}); "
                               "re-download or remove them.")
        return images

    def make(self, name, folder, batch_size, overwrite: bool, progress: Progress) -> str:
        from modules import shared

        name, batch = _aesthetic_name(name), _aesthetic_batch(batch_size)
        job = _AestheticJob(name, Path(folder), self._images(Path(folder)), batch, self.folder / f"{name}.pt",
                            f"{_AESTHETIC_PARTIAL}{secrets.token_hex(4)}-{name}", self.folder)
        if job.target.exists() and not overwrite:
            raise _aesthetic_taken(name)
        outcome: dict = {}

        def generate(id_task, *args):
            """Inside the queue lock: what could have changed while it waited is looked at again here."""
            if job.target.exists() and not overwrite:
                outcome["refused"] = _aesthetic_taken(name)
            elif _sd1_clip() is None:
                outcome["refused"] = DatasetError("The aesthetic-gradients extension needs an SD1 checkpoint loaded, "
                                                  "whose CLIP it uses (SD2 and SDXL have none it can); choose one in "
                                                  "the checkpoint list first.")
            else:
                outcome["replaced"], outcome["clip"] = job.target.exists(), _sd1_clip()
                try:
                    return (self.module.generate_imgs_embd(*args),)
                finally:  # the web UI's own Interrupt button stops it too
                    outcome["interrupted"] = bool(shared.state.interrupted)
            return ("",)

        def began() -> int:
            progress.start(None, f"making the aesthetic embedding {name} from {len(job.images)} images")
            return 0

        progress.start(None, "waiting for the web UI's queue")
        try:
            queued = _through_the_queue(generate, [job.partial_name, str(job.folder), batch], progress,
                                        "aesthetic-embedding", began=began)
            return job.made(queued, outcome)
        finally:
            progress.close()
            job.partial.unlink(missing_ok=True)
            self.module.update_aesthetic_embeddings()  # the list the extension's txt2img control reads


@dataclass(frozen=True)
class _AestheticJob:
    """One aesthetic embedding to make: from what, into which file, and the partial name the extension writes."""

    name: str
    folder: Path
    images: List[str]
    batch: int
    target: Path
    partial_name: str
    embeddings: Path  # the extension's folder of embeddings

    @property
    def partial(self) -> Path:
        return self.embeddings / f"{self.partial_name}.pt"

    def made(self, queued: _Queued, outcome: dict) -> str:
        """What the finished call made: the partial file renamed into place, or the sentence why nothing was."""
        if queued.error is not None:
            raise DatasetError(f"The aesthetic-gradients extension failed ({queued.error!r}); see the console.")
        if "refused" in outcome:
            raise outcome["refused"]
        if outcome.get("interrupted") or queued.asked:  # its average of the batches read so far is thrown away
            kept = f", {self.target} is as it was" if self.target.exists() else ""
            return f"interrupted: nothing saved{kept}"
        failure = queued.error_text()
        if failure:
            raise DatasetError(f"The aesthetic-gradients extension could not make the embedding {self.name} "
                               f"({failure}); the console shows the details.")
        if not queued.ran or not self.partial.is_file():
            raise DatasetError(f"The aesthetic-gradients extension gave no embedding for {self.name} (see the "
                               "console); check the console and try again.")
        os.replace(self.partial, self.target)
        made = (f"made the aesthetic embedding {self.name} from the {len(self.images)} images in {self.folder} (batch "
                f"size {self.batch}, the CLIP {outcome['clip']}): {self.target}")
        if outcome["replaced"]:
            made += ("\nit replaced the old one, which txt2img and img2img keep using where it was chosen until "
                     "another aesthetic embedding is chosen there, then this one again")
        return made + "\nin txt2img and img2img, press 🔄 beside \"Aesthetic imgs embedding\" to list it"
