"""The Dataset tab: one Gradio Blocks for the web UI and the standalone app.

Callbacks only gather the widgets' values and call library functions; every
long step reports through :class:`GradioProgress` and can be cancelled.  The
step folders chain: ``<dataset>/downloaded`` → ``<dataset>/tagged`` →
``<dataset>/train``, each editable so a step also works alone on any folder.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import os
import threading
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Optional

import gradio as gr

from . import schedule as schedules
from .augment import AugmentOptions, augment
from .boorus import SITES, VOCAB_NUMBERINGS, get_site, open_booru
from .access import Access
from .errors import Cancelled, DatasetError, unexpected_error
from .fetch import fetch
from .files import ensure_writable_dir
from .host import CreateOptions, Host, standalone_host
from .http import Credentials
from .names import safe_user_name
from .lossfile import lineage, read_loss_log, rolling_median
from .lossplot import plot_loss
from .imagesearch import DEFAULT_CUTOFF
from .postcache import PostCache
from .supervisor import REVERT, Knobs
from .preview import preview_page, tag_stats
from .tagger import DEFAULT_THRESHOLDS, parse_thresholds, tagger_for
from .tagging import TagOptions, tag_folder
from .tags import INCLUDABLE, PINNABLE, CaptionRules, load_vocabulary_and_aliases
from .progress import Progress
from .runs import FINISHED, INTERRUPTED, NOT_STARTED, Run, RunRefused, RunRegistry, RunView
from .templates import KINDS as TEMPLATE_KINDS
from .templates import DEFAULT_FLAVOURS, DEFAULT_PREFIX, make_template
from .checks import check_readiness, verdict
from .text import visible
from .training import EMBEDDING, HYPERNETWORK, TrainRequest, has_errors
from .wording import option, speaking

GRADIO_4 = int(gr.__version__.split(".")[0]) >= 4
PER_PAGE = 48
FREQUENCY_COLUMNS = ["tag", "images", "share"]
DEFAULT_STEPS = 3000
CUSTOM_WHY = "Your own schedule: the box below shows what the trainer does with it."
STEP_FOLDERS = ("downloaded", "tagged", "train")
AUTO = "auto"
# The extension's stylesheet: the web UI loads it for every extension; the standalone app passes it to its Blocks.
STYLE = Path(__file__).resolve().parent.parent / "style.css"
# How the tab's messages name the library's options (sd_dataset.wording): by the control that sets each; a hint about
# an option the tab lacks is left out.  Each name is the start of its control's label.
TAB_OPTIONS = {
    "query": '"Search"', "base_url": '"Site address"', "gif": '"Also gif"',
    "username": '"Login for this run: user name"', "api_key": '"API key"',
    "vocab": '"Model vocabulary"', "aliases": '"Tag aliases export"', "include": '"Also keep these categories"',
    "caption": '"Caption as"', "layout": '"Layout"', "repeats": '"Repeats (kohya)"',
    "exclude_common": '"Leave out tags on at least this share of images"', "offline": '"Offline"',
    "keep_untagged": '"Keep untagged images"',
    "square": '"Square"', "format": '"Format"', "size": '"Size"', "min_size": '"Min short side"',
    "split_threshold": '"Split threshold"', "overlap": '"Split overlap"',
    "template_kind": '"Kind"', "template_overwrite": '"Overwrite"',
    "weighted_captions": '"Weighted captions"', "pin": '"Keep first when kohya shuffles"',
    "tagger": '"Local tagger"', "tagger_threshold": '"Tagger thresholds"',
    "split": '"Split oversized"', "tile_captions": '"Tile captions"',
    "iqdb": '"Image search (IQDB)"', "iqdb_cutoff": '"IQDB score cutoff"',
}
AESTHETIC_ADVICE = (
    "Makes an aesthetic embedding of the training folder's images (3 · Augment's) through the web UI's "
    "aesthetic-gradients extension: the average of their CLIP image features, which txt2img and img2img steer a "
    "picture towards under *Open for Clip Aesthetic!*. As the guide warns, its defaults overbake (Aesthetic weight "
    "0.9): start with a low Aesthetic weight and raise it only while the picture still follows the prompt. Their "
    "*Aesthetic imgs embedding* lists refresh only with their own 🔄 button beside them: press it after making one."
)
AESTHETIC_INTERRUPTING = "interrupting: the extension stops after the current batch, and nothing is saved"
# A page following a run hears from it at least this often, even when nothing changed, so that gradio notices a page
# that went away and ends its follower instead of keeping one of its workers busy until the run ends.
FOLLOW_SECONDS = 1.0
log = logging.getLogger(__name__)


class GradioProgress(Progress):
    """The library's progress over files, shown by ``gr.Progress``."""

    def __init__(self, bar, cancel_event: threading.Event):
        super().__init__(cancel_event)
        self._bar = bar
        self._note = ""

    def start(self, total, desc):
        super().start(total, f"{desc}: {self._note}" if self._note else desc)
        self._show()

    def note(self, text):
        super().note(text)
        self._note = text  # the next part's bar says it (how long the image look-ups take) while it runs

    def close(self):
        super().close()
        self._note = ""

    def advance(self, n=1):
        super().advance(n)
        self._show()

    def _show(self):
        self._bar((self.done, self.total), desc=self.desc, unit="files")


class _Cancels:
    """One cancel event per step; Run makes a fresh one, Cancel sets it."""

    def __init__(self):
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def fresh(self, step: str) -> threading.Event:
        with self._lock:
            self._events[step] = threading.Event()
            return self._events[step]

    def cancel(self, step: str, said: str = "cancelling: the step stops after the current file") -> str:
        with self._lock:
            event = self._events.get(step)
        if event is None or event.is_set():
            return "nothing to cancel"
        event.set()
        return said


def _outcome(lines: list[str], ok: bool = True) -> str:
    return visible("\n".join(lines if ok else lines + ["finished with failures (listed above)"]))


def _style() -> Optional[str]:
    """The stylesheet's text; None where only the package was installed (the tab works, unstyled)."""
    return STYLE.read_text(encoding="utf-8") if STYLE.is_file() else None


def _run_controls(key: str, label: str):
    """A step's Run and Cancel buttons and its log."""
    with gr.Row():
        run = gr.Button(label, variant="primary", elem_id=f"sdds_{key}_run")
        cancel = gr.Button("Cancel", elem_id=f"sdds_{key}_cancel")
    log = gr.Textbox(label=f"{label} log", lines=4, interactive=False, elem_id=f"sdds_{key}_log",
                     elem_classes=["sdds-log"])
    return run, cancel, log


def _finding_lines(findings) -> list[str]:
    return [str(f) for f in findings] + [verdict(findings)]


def _said(exc: DatasetError) -> str:
    """A step's error as its log shows it; the user's own Cancel is no error."""
    return f"stopped: {exc}" if isinstance(exc, Cancelled) else f"error: {exc}"


def _error_line(step: str, exc: Exception) -> str:
    """The step's log line for an exception: a DatasetError's own sentence; for any other, one sentence, with the
    traceback in the console."""
    if isinstance(exc, DatasetError):
        return visible(_said(exc))
    log.error("The Dataset tab's %s step failed", step, exc_info=exc)
    return f"error: {unexpected_error(step, exc)}"


def _sentence(fn: Callable, step: str) -> Callable:
    """Show a step's result as its log's text, and any exception as one sentence instead of a Gradio error popup
    over a stale log."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            return _error_line(step, exc)
        return result.text() if isinstance(result, StepResult) else result

    return wrapper


# -- who may drive the tab ------------------------------------------------------

GUARDED = "__sd_dataset_guarded__"


def _headers(request) -> dict[str, str]:
    """A gradio request's headers, lower-case names (a starlette ``Headers``, or the queue's copy of them)."""
    headers = getattr(request, "headers", None) if request is not None else None
    return {str(k).lower(): str(v) for k, v in dict(headers or {}).items()}


def guarded(fn: Callable, access: Access) -> Callable:
    """``fn`` behind the access check: gradio hands the wrapper the call's request, and a call from another page or
    through a name the server does not answer as is refused with one sentence before ``fn`` sees anything."""

    def check(request) -> None:
        headers = _headers(request)
        reason = access.refusal(headers.get("origin"), headers.get("host"))
        if reason:
            raise gr.Error(reason)

    if inspect.isgeneratorfunction(fn):
        def wrapper(request, *args, **kwargs):
            check(request)
            yield from fn(*args, **kwargs)
    else:
        def wrapper(request, *args, **kwargs):
            check(request)
            return fn(*args, **kwargs)

    # gradio passes the request to a parameter annotated gr.Request, and a gr.Progress to one defaulting to it; it
    # reads both from the signature and type hints, so the wrapper shows the request first, then fn's own parameters
    signature = inspect.signature(fn)
    request = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request)
    wrapper.__signature__ = signature.replace(parameters=[request, *signature.parameters.values()])
    wrapper.__annotations__ = {"request": gr.Request}
    wrapper.__name__ = getattr(fn, "__name__", "step")
    setattr(wrapper, GUARDED, True)
    return wrapper


def _events(blocks: Optional[gr.Blocks]) -> list:
    if blocks is None:
        return []
    return list(blocks.fns.values() if isinstance(blocks.fns, dict) else blocks.fns)  # a dict in gradio 4


def _enclosing_blocks() -> Optional[gr.Blocks]:
    """The Blocks being built around the tab, if any: gradio registers a nested Blocks' events on it."""
    from gradio.context import Context

    return Context.root_block


def guard_every_event(events: list, access: Access) -> None:
    """Put every event behind :func:`guarded`: done once the tab is built, so no event can miss it."""
    for block_fn in events:
        if block_fn.fn is not None and not getattr(block_fn.fn, GUARDED, False):
            block_fn.fn = guarded(block_fn.fn, access)


class RefuseForgedRequests:
    """ASGI middleware: a call may not bring its own request headers.

    gradio lets the body of ``/run/predict`` (and ``/api/…``) carry a ``request`` with headers, for its queue's own
    forwarding of a websocket call (gradio 3, which sends its token with it); a page could otherwise put the tab's own
    ``Origin`` there and pass :func:`guarded`.  Only the queue's token lets such a body through.
    """

    MAX_BODY = 64 * 1024 * 1024

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST" or "/queue/" in scope.get("path", ""):
            await self.app(scope, receive, send)
            return
        body, more, messages = b"", True, []
        while more and len(body) <= self.MAX_BODY:
            message = await receive()
            messages.append(message)
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if not more and self._forged(scope, body):
            await _refuse(send, "Refused: a call may not bring request headers of its own; only the tab's page runs "
                                "its steps.")
            return
        replay = iter(messages)

        async def replayed():
            return next(replay, None) or await receive()

        await self.app(scope, replayed, send)

    @staticmethod
    def _forged(scope, body: bytes) -> bool:
        if not body.lstrip().startswith(b"{"):
            return False
        try:
            claimed = json.loads(body).get("request")
        except (ValueError, RecursionError, AttributeError):
            return False
        if not claimed:
            return False
        token = getattr(scope.get("app"), "queue_token", None)  # gradio 3's queue forwards with it; gradio 4 never
        sent = dict((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope.get("headers", []))
        return not token or sent.get("authorization") != f"Bearer {token}"


async def _refuse(send, sentence: str) -> None:
    data = json.dumps({"error": sentence}).encode()
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


ALLOW_ALL_CORS = ("CORSMiddleware", "CustomCORSMiddleware")  # gradio 3's allow-all one, gradio 4's any-localhost one


def harden_app(app, strip_cors: bool) -> None:
    """Refuse forged request headers on ``app`` (a running gradio app); ``strip_cors``: drop gradio's CORS, which
    lets any page (gradio 3) or any page on this computer (gradio 4) read the answers."""
    from starlette.middleware import Middleware

    if strip_cors:
        app.user_middleware = [m for m in app.user_middleware if m.cls.__name__ not in ALLOW_ALL_CORS]
    if not any(m.cls is RefuseForgedRequests for m in app.user_middleware):
        app.user_middleware.insert(0, Middleware(RefuseForgedRequests))
    app.middleware_stack = None  # starlette builds the stack again, with these, at the next request


@dataclass
class StepResult:
    """What a step did: its report's lines for its log, and for Run all the lines naming what failed and, when the
    step made nothing, the sentence saying why and what to change."""

    lines: list[str]
    failures: list[str] = field(default_factory=list)
    nothing: Optional[str] = None
    brief: Optional[list[str]] = None  # what Run all shows of it; None: the first line and the failures

    def text(self) -> str:
        if self.nothing:
            return "\n".join(self.lines + [f"error: {self.nothing}"])
        return _outcome(self.lines, not self.failures)

    def summary(self) -> list[str]:
        return self.brief if self.brief is not None else self.lines[:1] + self.failures


def _in_tab_words(step: Callable) -> Callable:
    """A step whose messages name the tab's controls (see :data:`TAB_OPTIONS`) instead of command-line flags."""

    @functools.wraps(step)
    def speaking_the_tabs_words(*args, **kwargs):
        with speaking(TAB_OPTIONS):
            return step(*args, **kwargs)

    return speaking_the_tabs_words


class DatasetTab:
    """The step functions behind the tab (plain Python: the tests call them directly too)."""

    def __init__(self, host: Host):
        self.host = host
        self.cancels = _Cancels()
        self.runs: RunRegistry = host.runs

    # -- folders --------------------------------------------------------------

    @property
    def datasets_root(self) -> Path:
        """The host's datasets folder, absolute: a relative path typed in the tab is taken inside it."""
        return Path(os.path.abspath(self.host.datasets_root.expanduser()))

    def path(self, text: str) -> Path:
        """A path typed in the tab, absolute: ``~`` is the home folder, a relative one lies in the datasets folder
        (never in the server's working folder, which the user cannot see)."""
        return Path(os.path.abspath(self.datasets_root / Path(str(text or "").strip()).expanduser()))

    def shown_path(self, text: str) -> str:
        """The path as the box should show it: absolute, so the user sees where it is (blank stays blank)."""
        return str(self.path(text)) if str(text or "").strip() else ""

    def preview(self, folder: str, number) -> tuple:
        """The preview's outputs for a page of the folder typed (see :func:`show_page`)."""
        return show_page(self.path(folder) if str(folder or "").strip() else None, number)

    def _folder(self, text: str, what: str) -> Path:
        if not str(text or "").strip():
            raise DatasetError(f"Choose {what} first.")
        return self.path(text)

    def dataset_folder(self, root: str, name: str) -> Path:
        if not name.strip():
            raise DatasetError("Give the dataset a name first, e.g. red_panda.")
        return (self.path(root) if str(root or "").strip() else self.datasets_root) / safe_user_name(name.strip(), 120)

    def step_folders(self, root: str, name: str) -> tuple[str, str, str]:
        """The downloaded, tagged and train folders of a dataset; empty while it has no usable name."""
        try:
            base = self.dataset_folder(root, name)
        except DatasetError:
            return "", "", ""
        return tuple(str(base / sub) for sub in STEP_FOLDERS)

    def _progress(self, step: str, bar) -> GradioProgress:
        return GradioProgress(bar, self.cancels.fresh(step))

    # -- steps ----------------------------------------------------------------

    def _open_site(self, site: str, base_url: str, username: str = "", api_key: str = "", remember: bool = False,
                   offline: bool = False):
        """The site's client with the login typed for this run, else the stored one (only for the site's own
        address); ``remember`` keeps the typed login for later runs."""
        spec = get_site(site)
        if remember:
            self.remember_login(spec, username, api_key)
        # the host's setting is one rate for every site: each site gets at most its own limit
        rate = min(self.host.api_rate, spec.max_rate) if self.host.api_rate else None
        booru = open_booru(site, base_url=base_url.strip() or None, username=username, api_key=api_key,
                           stored=self.host.credentials(site, spec.env_prefix), rate=rate, offline=offline)
        return spec, booru

    def remember_login(self, spec, username: str, api_key: str) -> None:
        given = Credentials.typed(username, api_key)
        if not given.complete:
            raise DatasetError(f"Type both your {spec.account_site} {'user id' if spec.login_is_user_id else 'user name'}"
                               " and API key to remember them.")
        if self.host.logins is None:
            raise DatasetError(f"This {self.host.name} keeps no logins; set {spec.env_prefix}_API_KEY in the "
                               "environment instead.")
        self.host.logins.put(spec.env_prefix, given)

    @_in_tab_words
    def fetch(self, out: str, site: str, base_url: str, query: str, limit, workers, gif: bool, username: str,
              api_key: str, remember: bool, bar) -> StepResult:
        if not query.strip():
            raise DatasetError("Type a search first, e.g. red_panda solo.")
        folder = self._folder(out, "the folder to download into")
        spec, booru = self._open_site(site, base_url, username, api_key, remember)
        try:
            report = fetch(booru, query.strip(), folder, limit=int(limit) if limit else None,
                           workers=int(workers or 4), include_gif=gif, progress=self._progress("fetch", bar))
        finally:
            booru.close()
        return StepResult(report.summary(spec.login_hint), report.failure_lines(),
                          report.nothing_made(spec.login_hint))

    @_in_tab_words
    def tag(self, src: str, out: str, site: str, base_url: str, vocab: str, numbering: str, aliases: str,
            caption: str, layout: str, repeats, concept: str, trigger: str, include: list, exclude: str,
            rating: bool, artist: bool, keep_underscores: bool, escape: bool, exclude_common, keep_untagged: bool,
            offline: bool, weighted: bool, pin: list, username: str, api_key: str, remember: bool,
            tagger: str, tagger_thresholds: str, iqdb: bool, iqdb_cutoff, bar) -> StepResult:
        source = self._folder(src, "the folder of images to caption")
        target = self._folder(out, "the folder to write the captioned images into")
        vocab = (vocab or "").strip()  # a dropdown of found lists sends None when cleared
        vocabulary = load_vocabulary_and_aliases(self.path(vocab) if vocab else None,
                                                 self.path(aliases) if aliases.strip() else None,
                                                 None if numbering == AUTO else numbering)
        rules = CaptionRules(vocab=vocabulary, include=tuple(include or ()),
                             exclude=frozenset(t.strip() for t in exclude.split(",") if t.strip()), rating=rating,
                             artist=artist, keep_underscores=keep_underscores, escape=escape, trigger=trigger.strip(),
                             site=site, pinned=tuple(pin or ()))
        options = TagOptions(rules=rules, caption=caption, layout=layout, repeats=int(repeats or 10),
                             concept=concept.strip(), keep_untagged=keep_untagged,
                             exclude_common=float(exclude_common) or None, offline=offline,
                             weighted_captions=weighted, iqdb=iqdb,
                             iqdb_cutoff=float(DEFAULT_CUTOFF if iqdb_cutoff is None else iqdb_cutoff))
        local = self.local_tagger(tagger, tagger_thresholds)
        _, booru = self._open_site(site, base_url, username, api_key, remember, offline)
        cache = PostCache()
        try:
            report = tag_folder(source, target, options, booru=None if offline else booru, cache=cache,
                                progress=self._progress("tag", bar), tagger=local)
        finally:
            booru.close()
            cache.close()
        return StepResult(report.summary(), report.failure_lines(), report.nothing_made())

    def local_tagger(self, choice: Optional[str], thresholds: str):
        """The tagger "Local tagger" names: one of the host's own, or a model folder typed; None when blank."""
        choice = (choice or "").strip()
        made = self.host.taggers.get(choice)
        if made is not None:
            if parse_thresholds([thresholds]):
                raise DatasetError(f"{choice} keeps the tags its own settings' threshold passes; leave "
                                   f"{option('tagger_threshold')} empty, or choose a model folder.")
            return made()
        return tagger_for(self.path(choice) if choice else None, [thresholds])

    def numbering_for(self, vocab: Optional[str]) -> str:
        """The numbering to show for a vocabulary path: a found list's own, else auto (read from the file)."""
        found = {str(v.path): v.numbering for v in self.host.vocabularies}
        return found.get((vocab or "").strip(), AUTO)

    @_in_tab_words
    def augment(self, src: str, out: str, flip: bool, split: bool, threshold, overlap, square: str, size,
                keep_size: bool, min_size, dedupe: bool, fmt: str, tile_captions: bool, tagger: str,
                tagger_thresholds: str, bar) -> StepResult:
        options = AugmentOptions(flip=flip, split=split, split_threshold=float(threshold), overlap=float(overlap),
                                 square=square, size=int(size), keep_size=keep_size, min_size=int(min_size),
                                 dedupe=dedupe, format=fmt, tile_captions=tile_captions)
        source, target = self._folder(src, "the source folder"), self._folder(out, "the training folder")
        report = augment(source, target, options, progress=self._progress("augment", bar),
                         executor_factory=self.host.augment_executor,
                         # Tag's "Local tagger", which may be filled for Tag alone: only tile captions load it
                         tagger=self.local_tagger(tagger, tagger_thresholds) if tile_captions else None)
        lines, failures = report.summary(), report.failure_lines()
        return StepResult(lines, failures, report.nothing_made(), brief=lines[:1] + report.skip_lines() + failures)

    @_in_tab_words
    def template(self, folder: str, name: str, kind: str, prefix: str, artists: str, flavours: bool,
                 overwrite: bool) -> StepResult:
        target = ensure_writable_dir(self._folder(folder, "the folder to write the template into"))
        result = make_template(target, name or kind, kind=kind, prefix=prefix,
                               artists=[a for a in artists.split(",") if a.strip()] or None,
                               flavours=DEFAULT_FLAVOURS if flavours else None, overwrite=overwrite)
        if self.host.trainer is not None:
            self.host.trainer.use_template(result.path)
        lines = [result.headline()] + [f"  {line}" for line in result.lines]
        lines += [f"warning: {w}" for w in result.warnings]
        return StepResult(lines, brief=lines)

    @staticmethod
    def explain(text: str, steps) -> str:
        try:
            plan = schedules.plan(text, int(steps) if steps else None)
        except (DatasetError, ValueError) as exc:
            return f"error: {exc}"
        return "\n".join(plan.lines() + [f"warning: {w}" for w in plan.warnings])

    def request(self, kind, name, data_root, template_file, learn_rate, steps, batch_size, gradient_step, width,
                height, save_every, preview_every, preview_prompt, shuffle_tags, tag_drop_out,
                latent_sampling) -> TrainRequest:
        return TrainRequest(
            name=name.strip(), data_root=data_root, template_file=template_file, learn_rate=learn_rate.strip(),
            steps=steps, kind=kind, batch_size=batch_size, gradient_step=gradient_step, training_width=width,
            training_height=height, save_every=save_every, create_image_every=preview_every,
            preview_from_txt2img=bool(preview_prompt.strip()), preview_prompt=preview_prompt,
            shuffle_tags=shuffle_tags, tag_drop_out=float(tag_drop_out), latent_sampling_method=latent_sampling,
        )

    def _findings(self, request: TrainRequest, creating: bool = False, csv_every: Optional[int] = None):
        state = self.host.trainer.host_state(request) if self.host.trainer else None
        if state is not None and creating:  # it does not exist yet: the create step makes it, at step 0
            state = replace(state, loaded_embeddings=None, hypernetworks=None, current_step=0)
        if state is not None and csv_every is not None:  # a supervised run sets the loss-log interval itself
            state = replace(state, training_write_csv_every=csv_every)
        return check_readiness(request, state)

    @_in_tab_words
    def check(self, request: TrainRequest, creating: bool = False) -> list[str]:
        return _finding_lines(self._findings(request, creating))

    def start_training(self, request: TrainRequest, create: Optional[CreateOptions],
                       knobs: Optional[Knobs] = None) -> RunView:
        """Start a training run (supervised with ``knobs``) in the background; RunRefused while one runs."""
        return self.runs.start(request.kind, request.name, lambda run: self._train_run(run, request, create, knobs),
                               window=knobs.window_steps if knobs is not None else None)

    def _train_run(self, run: Run, request: TrainRequest, create: Optional[CreateOptions],
                   knobs: Optional[Knobs]) -> str:
        """The readiness check, the creation of a new embedding/hypernetwork, then training; the state it ended in."""
        findings = self._findings(request, create is not None, knobs.csv_every() if knobs is not None else None)
        run.say(*_finding_lines(findings))
        if has_errors(findings):
            run.say("training not started: fix the errors above first")
            return NOT_STARTED
        trainer = self.host.trainer
        if trainer is None:
            run.say(self.host.no_training_reason, "it would pass:",
                    json.dumps(asdict(request), indent=1, ensure_ascii=False))
            return NOT_STARTED
        if create is not None:
            run.say(trainer.create(request.kind, request.name, create))
        progress = run.progress()
        if knobs is None:
            run.say(trainer.train(request, progress))
        else:
            summary = trainer.supervise(request, knobs, progress, run.add_decision)
            run.say(f"supervised run finished at step {summary.final_step}; best step {summary.best_step}"
                    + (f" (loss {summary.best_loss:.6g})" if summary.best_loss is not None else ""),
                    f"decisions: {summary.journal}")
        return INTERRUPTED if progress.cancelled else FINISHED

    def aesthetic_embedding(self, name: str, folder: str, batch_size, overwrite: bool, bar) -> str:
        """A CLIP aesthetic embedding of the training folder's images, by the host's aesthetic-gradients extension."""
        if self.host.aesthetic is None:
            raise DatasetError(self.host.no_aesthetic_reason)
        return self.host.aesthetic.make(name, self._folder(folder, "the training folder (3 · Augment's)"), batch_size,
                                        overwrite, self._progress("aesthetic", bar))

    def aesthetic_names(self) -> str:
        """The aesthetic embeddings the extension lists, as the Train section shows them."""
        names = self.host.aesthetic.names() if self.host.aesthetic is not None else []
        return ", ".join(names) if names else "none yet"


def loss_chart(view: RunView):
    """The supervised run's loss chart (None before its first decision, and for runs not supervised)."""
    if view.loss_csv is None:
        return None
    rows = lineage(read_loss_log(view.loss_csv, missing_ok=True).rows)
    reverts = [d.step for d in view.decisions if d.action == REVERT]
    return plot_loss(rows, rolling_median(rows, view.window or 1), reverts)


def follow_run(runs: RunRegistry, run_id: Optional[str], bar=None) -> Iterator[tuple]:
    """The Train section's outputs (log, loss chart, segment previews, decisions) for the run ``run_id`` (None: the
    latest), again at every change until it ends; unchanged outputs where there is no such run."""
    unchanged = (gr.update(),) * 4
    shown, charted, chart = -1, -1, None
    while True:
        view = runs.wait(run_id, shown, FOLLOW_SECONDS)
        if view is None:
            yield unchanged
            return
        if view.version == shown:
            yield unchanged
            continue
        shown = view.version
        if len(view.decisions) != charted:
            chart, charted = loss_chart(view), len(view.decisions)
        if bar is not None and view.running and view.total:
            bar((view.done, view.total), desc=f"training the {view.kind} {view.name}", unit="steps")
        yield view.text(), chart, list(view.previews), "\n".join(d.line() for d in view.decisions)
        if not view.running:
            return


# -- the Blocks, one function per section ----------------------------------------


@dataclass
class Header:
    root: gr.Textbox
    name: gr.Textbox
    run_all: gr.Button
    log: gr.Textbox


@dataclass
class Step:
    """A step's section: the values its call takes, the folder it writes, and its run, cancel and log."""
    key: str
    inputs: list
    out: gr.Textbox
    run: gr.Button
    cancel: Optional[gr.Button]
    log: gr.Textbox


@dataclass
class FetchSection(Step):
    site: gr.Dropdown
    base_url: gr.Textbox
    login: list


@dataclass
class TagSection(Step):
    src: gr.Textbox
    vocab: gr.components.Component  # a Textbox, or a Dropdown of the host's vocabularies
    numbering: gr.Dropdown
    files: list  # the path boxes of files (vocabulary, aliases) shown absolute once typed
    local_tagger: list  # "Local tagger" and "Tagger thresholds", which Augment's tile captions use too


@dataclass
class AugmentSection(Step):
    src: gr.Textbox


@dataclass
class TemplateSection(Step):
    name: gr.Textbox
    kind: gr.Radio


@dataclass
class AestheticSection:
    """The CLIP aesthetic embedding's controls in the Train section (where the host has the extension)."""
    name: gr.Textbox
    batch: gr.Number
    overwrite: gr.Checkbox
    run: gr.Button
    cancel: gr.Button
    log: gr.Textbox
    listed: gr.Textbox


@dataclass
class TrainSection:
    kind: gr.Radio
    name: gr.Textbox
    create_inputs: list  # Create new first, then the options of creation
    preset: gr.Dropdown
    learn_rate: gr.Textbox
    preset_why: gr.Markdown
    explanation: gr.Textbox
    steps: gr.Number
    request_rest: list  # the request's values after data root, template folder and name, rate and steps
    knob_inputs: list  # Supervised first, then its knobs
    check: gr.Button
    run: gr.Button
    cancel: gr.Button
    log: gr.Textbox
    outputs: list  # log, loss chart, segment previews, decisions
    aesthetic: Optional[AestheticSection] = None  # None: the host lacks the aesthetic-gradients extension


@dataclass
class PreviewSection:
    folder: gr.Textbox
    page: gr.Number
    prev: gr.Button
    next: gr.Button
    refresh: gr.Button
    outputs: list  # gallery, page, page label, frequency table, traits


def _path_box(label: str, elem_id: str, **options) -> gr.Textbox:
    """A box for a file or folder: wide enough, and wrapping, so the end of a long path stays in view."""
    return gr.Textbox(label=label, elem_id=elem_id, elem_classes=["sdds-path"], **options)


def template_name(kind: str) -> str:
    """The template name the tab proposes for a kind."""
    return f"dataset-{kind}"


def _header_section(host: Host) -> Header:
    with gr.Row():
        root = _path_box("Datasets folder", "sdds_root", value=str(DatasetTab(host).datasets_root), scale=2)
        name = gr.Textbox(label="Dataset name", placeholder="e.g. red_panda", elem_id="sdds_name", scale=1)
        run_all = gr.Button("Run all", variant="primary", elem_id="sdds_run_all", scale=0)
    log = gr.Textbox(label="Run all", lines=8, interactive=False, elem_id="sdds_all_log", elem_classes=["sdds-log"])
    return Header(root, name, run_all, log)


def _login_fields() -> list:
    with gr.Row():
        # typed logins go to whatever address this run asks; stored ones only to the site's own
        user = gr.Textbox(label="Login for this run: user name (user id on Gelbooru-style sites)",
                          elem_id="sdds_login_user", scale=2)
        key = gr.Textbox(label="API key (blank: the one kept for the site, if any)", type="password",
                         elem_id="sdds_login_key", scale=2)
        remember = gr.Checkbox(label="Remember for this site (a file only you can read)", value=False,
                               elem_id="sdds_login_remember", scale=1)
    return [user, key, remember]


def _fetch_section() -> FetchSection:
    with gr.Accordion("1 · Fetch", open=True):
        with gr.Row():
            site = gr.Dropdown(choices=list(SITES), value="e621", label="Site", elem_id="sdds_site", scale=0)
            query = gr.Textbox(label="Search", placeholder="red_panda solo score:>50", elem_id="sdds_query", scale=3)
            limit = gr.Number(label="Limit (0 = all)", value=100, precision=0, elem_id="sdds_limit", scale=0)
        out = _path_box("Download folder", "sdds_fetch_out")
        with gr.Row():
            workers = gr.Slider(1, 8, value=4, step=1, label="Parallel downloads", scale=1)
            gif = gr.Checkbox(label="Also gif", value=False, scale=0)
            base_url = gr.Textbox(label="Site address (blank: the site's own; or a mirror)", elem_id="sdds_base_url",
                                  scale=2)
        login = _login_fields()
        run, cancel, log = _run_controls("fetch", "Fetch")
    return FetchSection("fetch", [out, site, base_url, query, limit, workers, gif] + login, out, run, cancel, log,
                        site=site, base_url=base_url, login=login)


def _tag_section(host: Host, fetch: FetchSection) -> TagSection:
    defaults = host.caption_defaults
    with gr.Accordion("2 · Tag", open=True):
        with gr.Row():
            src = _path_box("Images to caption", "sdds_tag_src")
            out = _path_box("Captioned folder", "sdds_tag_out")
        with gr.Row():
            vocab = _vocabulary_field(host)
            numbering = gr.Dropdown([AUTO] + list(VOCAB_NUMBERINGS), value=AUTO,
                                    label="Its category numbers (autocomplete csv)", elem_id="sdds_numbering",
                                    scale=0)
            aliases = _path_box("Tag aliases export (optional)", "sdds_aliases")
        with gr.Row():
            caption = gr.Radio(["txt", "filename", "both"], value=defaults.get("caption", "txt"),
                               label="Caption as", elem_id="sdds_caption",
                               info="the web UI's trainer reads a .txt as written, else the file name less its "
                                    "leading digits and dashes (and only what Filename word regex matches, if set)")
            layout = gr.Radio(["flat", "kohya"], value="flat", label="Layout")
            repeats = gr.Number(label="Repeats (kohya)", value=10, precision=0)
            concept = gr.Textbox(label="Concept (kohya)")
            trigger = gr.Textbox(label="Trigger word (first in every caption)")
        with gr.Row():
            include = gr.CheckboxGroup(list(INCLUDABLE), value=[], label="Also keep these categories")
            exclude = gr.Textbox(label="Leave out these tags (comma-separated)", elem_id="sdds_exclude")
            exclude_common = gr.Slider(0, 1, value=0, step=0.05,
                                       label="Leave out tags on at least this share of images (0: off)")
        with gr.Row():
            rating = gr.Checkbox(label="Rating first", value=defaults.get("rating", True))
            artist = gr.Checkbox(label="by <artist>", value=defaults.get("artist", True))
            keep_underscores = gr.Checkbox(label="Keep underscores", value=defaults.get("keep_underscores", False))
            escape = gr.Checkbox(label="Escape \\ ( ) [ ]", value=defaults.get("escape", True))
            keep_untagged = gr.Checkbox(label="Keep untagged images", value=False)
            offline = gr.Checkbox(label="Offline (sidecars and cache only)", value=False)
        with gr.Row():
            iqdb = gr.Checkbox(label="Image search (IQDB)", value=False, elem_id="sdds_iqdb",
                               info="images whose md5 matches no post (re-saved, resized) are looked up by the image "
                                    "itself: e621 allows 1 a minute without a login, 6 in 10 s with one")
            iqdb_cutoff = gr.Number(label="IQDB score cutoff", value=DEFAULT_CUTOFF, elem_id="sdds_iqdb_cutoff",
                                    info="0-100; below about 80 look-alikes creep in")
        with gr.Row():
            weighted = gr.Checkbox(label="Weighted captions (kohya: for sd-scripts' --weighted_captions)",
                                   value=False, elem_id="sdds_weighted")
            pin = gr.CheckboxGroup(list(PINNABLE), value=[], label="Keep first when kohya shuffles (with the trigger)",
                                   elem_id="sdds_pin")
        with gr.Row():
            tagger = _tagger_field(host)
            tagger_thresholds = gr.Textbox(label="Tagger thresholds (category=score, comma separated)",
                                           placeholder=_threshold_defaults(), elem_id="sdds_tagger_thresholds")
        run, cancel, log = _run_controls("tag", "Tag")
    inputs = [src, out, fetch.site, fetch.base_url, vocab, numbering, aliases, caption, layout, repeats, concept,
              trigger, include, exclude, rating, artist, keep_underscores, escape, exclude_common, keep_untagged,
              offline, weighted, pin] + fetch.login + [tagger, tagger_thresholds, iqdb, iqdb_cutoff]
    files = [aliases] if host.vocabularies else [vocab, aliases]
    return TagSection("tag", inputs, out, run, cancel, log, src=src, vocab=vocab, numbering=numbering, files=files,
                      local_tagger=[tagger, tagger_thresholds])


def _tagger_field(host: Host):
    """A model folder box, or where the host has taggers of its own a dropdown of them that takes a typed folder."""
    label = "Local tagger: a WD14 or Z3D model folder, for images no site knows"
    if not host.taggers:
        return _path_box(label, "sdds_tagger", scale=2)
    return gr.Dropdown([""] + list(host.taggers), value="", allow_custom_value=True,
                       label=f"{label} (or the web UI's own)", elem_id="sdds_tagger", scale=2)


def _threshold_defaults() -> str:
    return ", ".join(f"{category}={value:g}" for category, value in DEFAULT_THRESHOLDS.items())


def _vocabulary_field(host: Host):
    """A path box, or where the host found tag lists (tag-autocomplete's) a dropdown of them that takes a typed
    path too."""
    label = "Model vocabulary (tags.csv, autocomplete csv or e621 tags export)"
    if not host.vocabularies:
        return _path_box(label, "sdds_vocab", scale=2)
    return gr.Dropdown([str(v.path) for v in host.vocabularies], value=None, allow_custom_value=True,
                       label=f"{label}: tag-autocomplete's lists, or type a path", elem_id="sdds_vocab", scale=2)


def _augment_section(tag: TagSection) -> AugmentSection:
    with gr.Accordion("3 · Augment", open=True):
        with gr.Row():
            src = _path_box("Source folder", "sdds_aug_src")
            out = _path_box("Training folder", "sdds_aug_out")
        with gr.Row():
            flip = gr.Checkbox(label="Flip (mirrored copy)", value=True, elem_id="sdds_flip")
            split = gr.Checkbox(label="Split oversized", value=False, elem_id="sdds_split")
            threshold = gr.Slider(0, 1, value=0.5, step=0.05, label="Split threshold")
            overlap = gr.Slider(0, 0.9, value=0.2, step=0.05, label="Split overlap")
        with gr.Row():
            square = gr.Radio(["pad", "crop", "none"], value="pad", label="Square", elem_id="sdds_square")
            size = gr.Number(label="Size", value=512, precision=0, elem_id="sdds_size")
            keep_size = gr.Checkbox(label="Keep size", value=False)
            min_size = gr.Number(label="Min short side", value=256, precision=0, elem_id="sdds_min_size")
            dedupe = gr.Checkbox(label="Drop near-duplicates", value=False)
            fmt = gr.Radio(["png", "jpg", "webp"], value="png", label="Format")
        with gr.Row():
            tile_captions = gr.Checkbox(label="Tile captions: split tiles and crops keep only the general tags Tag's "
                                              "Local tagger sees in them", value=False, elem_id="sdds_tile_captions")
        run, cancel, log = _run_controls("aug", "Augment")
    inputs = [src, out, flip, split, threshold, overlap, square, size, keep_size, min_size, dedupe, fmt,
              tile_captions] + tag.local_tagger
    return AugmentSection("augment", inputs, out, run, cancel, log, src=src)


def _template_section(host: Host) -> TemplateSection:
    with gr.Accordion("4 · Template", open=False):
        with gr.Row():
            kind = gr.Radio(list(TEMPLATE_KINDS), value="subject", label="Kind", elem_id="sdds_tpl_kind")
            name = gr.Textbox(label="Template name", value=template_name("subject"), elem_id="sdds_tpl_name")
            folder = _path_box("Templates folder", "sdds_tpl_dir", value=str(host.templates_dir or ""))
        with gr.Row():
            prefix = gr.Textbox(label="Prefix", value=DEFAULT_PREFIX)
            artists = gr.Textbox(label="Artists (comma-separated, one line each)")
            flavours = gr.Checkbox(label="Flavour lines (a photo of …)", value=False)
            overwrite = gr.Checkbox(label="Overwrite", value=False, elem_id="sdds_tpl_overwrite")
        run = gr.Button("Write template", variant="primary", elem_id="sdds_tpl_run")
        log = gr.Textbox(label="Template", lines=4, interactive=False, elem_id="sdds_tpl_log",
                         elem_classes=["sdds-log"])
    return TemplateSection("template", [folder, name, kind, prefix, artists, flavours, overwrite], folder, run, None,
                           log, name=name, kind=kind)


def _train_section(host: Host) -> TrainSection:
    with gr.Accordion("5 · Train", open=False):
        if host.trainer is None:
            gr.Markdown(host.no_training_reason)
        with gr.Row():
            kind = gr.Radio([EMBEDDING, HYPERNETWORK], value=EMBEDDING, label="Train", elem_id="sdds_kind")
            name = gr.Textbox(label="Name", elem_id="sdds_train_name")
            create_new = gr.Checkbox(label="Create new", value=True)
        with gr.Row():
            init_text = gr.Textbox(label="Initialization text (embedding)", value="*")
            vectors = gr.Number(label="Vectors per token (embedding)", value=1, precision=0)
            layers = gr.Textbox(label="Layer structure (hypernetwork)", value="1, 2, 1")
            activation = gr.Dropdown(["linear", "relu", "leakyrelu", "elu", "swish", "tanh", "sigmoid"],
                                     value="linear", label="Activation (hypernetwork)")
            layer_norm = gr.Checkbox(label="Layer norm", value=False)
            dropout = gr.Checkbox(label="Dropout", value=False)
            overwrite = gr.Checkbox(label="Overwrite an existing one", value=False)
        first = schedules.default_preset(EMBEDDING)
        with gr.Row():
            preset = gr.Dropdown([p.key for p in schedules.PRESETS] + [schedules.CUSTOM], value=first.key,
                                 label="Schedule preset", elem_id="sdds_preset")
            learn_rate = gr.Textbox(label="Learning-rate schedule", value=first.schedule, elem_id="sdds_learn_rate",
                                    scale=2)
        preset_why = gr.Markdown(first.why, elem_id="sdds_preset_why")
        explanation = gr.Textbox(label="What the trainer will do", lines=4, interactive=False,
                                 value=DatasetTab.explain(first.schedule, DEFAULT_STEPS), elem_id="sdds_explanation",
                                 elem_classes=["sdds-log"])
        with gr.Row():
            steps = gr.Number(label="Steps", value=DEFAULT_STEPS, precision=0, elem_id="sdds_steps")
            batch = gr.Number(label="Batch size", value=1, precision=0)
            grad = gr.Number(label="Gradient accumulation", value=1, precision=0)
            width = gr.Number(label="Width", value=512, precision=0)
            height = gr.Number(label="Height", value=512, precision=0)
        with gr.Row():
            save_every = gr.Number(label="Save a copy every N steps", value=500, precision=0)
            preview_every = gr.Number(label="Preview image every N steps", value=500, precision=0)
            preview_prompt = gr.Textbox(label="Preview prompt (empty: from the template)")
        with gr.Row():
            shuffle = gr.Checkbox(label="Shuffle tags", value=False)
            drop = gr.Slider(0, 1, value=0, step=0.05, label="Tag dropout")
            sampling = gr.Radio(["once", "deterministic", "random"], value="once", label="Latent sampling")
        with gr.Row():
            supervised = gr.Checkbox(label="Supervised: watch the loss, revert and step down", value=False,
                                     elem_id="sdds_supervised")
            segment = gr.Number(label="Segment (steps)", value=500, precision=0)
            tolerance = gr.Number(label="Tolerance (rise over the best)", value=0.2)
            factor = gr.Number(label="Step-down factor", value=0.5)
            floor = gr.Textbox(label="Floor rate (blank: starting rate ÷ 20)", value="")
            patience = gr.Number(label="Patience (segments, 0: never)", value=5, precision=0)
        with gr.Row():
            check = gr.Button("Check", elem_id="sdds_check_run")
            run = gr.Button("Train", variant="primary", elem_id="sdds_train_run")
            cancel = gr.Button("Interrupt", elem_id="sdds_train_cancel")
        log = gr.Textbox(label="Train log", lines=6, interactive=False, elem_id="sdds_train_log",
                         elem_classes=["sdds-log"])
        with gr.Row():
            loss_chart = gr.Image(label="Loss (grey), smoothed (blue), reverts (red)", type="pil", interactive=False,
                                  elem_id="sdds_loss_chart")
            previews = gr.Gallery(label="Preview after each segment", columns=4, height=300,
                                  elem_id="sdds_segment_previews")
        decisions = gr.Textbox(label="Supervisor decisions", lines=5, interactive=False, elem_id="sdds_decisions",
                               elem_classes=["sdds-log"])
        aesthetic = _aesthetic_section(host)
    return TrainSection(
        kind=kind, name=name,
        create_inputs=[create_new, init_text, vectors, layers, activation, layer_norm, dropout, overwrite],
        preset=preset, learn_rate=learn_rate, preset_why=preset_why, explanation=explanation, steps=steps,
        request_rest=[batch, grad, width, height, save_every, preview_every, preview_prompt, shuffle, drop, sampling],
        knob_inputs=[supervised, segment, tolerance, factor, floor, patience],
        check=check, run=run, cancel=cancel, log=log, outputs=[log, loss_chart, previews, decisions],
        aesthetic=aesthetic)


def _aesthetic_section(host: Host) -> Optional[AestheticSection]:
    with gr.Accordion("CLIP aesthetic embedding", open=True, elem_id="sdds_aesthetic"):
        if host.aesthetic is None:
            gr.Markdown(host.no_aesthetic_reason, elem_id="sdds_aesthetic_missing")
            return None
        gr.Markdown(AESTHETIC_ADVICE, elem_id="sdds_aesthetic_advice")
        with gr.Row():
            name = gr.Textbox(label="Aesthetic embedding name", elem_id="sdds_aesthetic_name")
            batch = gr.Number(label="Batch size (images at a time)", value=16, precision=0,
                              elem_id="sdds_aesthetic_batch")
            overwrite = gr.Checkbox(label="Overwrite", value=False, elem_id="sdds_aesthetic_overwrite")
        with gr.Row():
            run = gr.Button("Make aesthetic embedding", variant="primary", elem_id="sdds_aesthetic_run")
            cancel = gr.Button("Interrupt", elem_id="sdds_aesthetic_cancel")
        log = gr.Textbox(label="Aesthetic embedding log", lines=3, interactive=False, elem_id="sdds_aesthetic_log",
                         elem_classes=["sdds-log"])
        listed = gr.Textbox(label="Aesthetic embeddings the extension lists", interactive=False,
                            elem_id="sdds_aesthetic_list")
    return AestheticSection(name, batch, overwrite, run, cancel, log, listed)


def _preview_section() -> PreviewSection:
    with gr.Accordion("Preview of the training set", open=True):
        with gr.Row():
            folder = _path_box("Folder", "sdds_preview_folder", scale=3)
            page = gr.Number(label="Page", value=1, precision=0, elem_id="sdds_page", scale=0)
            prev = gr.Button("◀", scale=0, elem_id="sdds_prev")
            next_ = gr.Button("▶", scale=0, elem_id="sdds_next")
            refresh = gr.Button("Refresh", scale=0, elem_id="sdds_refresh")
        page_label = gr.Markdown("", elem_id="sdds_page_label")
        gallery = gr.Gallery(label="Images and captions", columns=6, height=560, object_fit="contain",
                             elem_id="sdds_gallery")
        with gr.Row():
            freq = gr.Dataframe(headers=FREQUENCY_COLUMNS, label="Tag frequency (top 30)", interactive=False,
                                elem_id="sdds_freq")
            traits = gr.Textbox(label="Likely subject traits (on ≥ 80% of images)", lines=3, interactive=False,
                                elem_id="sdds_traits")
    return PreviewSection(folder, page, prev, next_, refresh, [gallery, page, page_label, freq, traits])


# -- the wiring, one function per section ------------------------------------------


def show_page(folder: Optional[Path], number) -> tuple:
    """The preview's outputs for one page of a folder (None: none chosen)."""
    result = preview_page(folder, int(number or 1), PER_PAGE) if folder else None
    if result is None:
        return [], 1, "no folder chosen", _table([]), ""
    stats = tag_stats(folder)
    if stats.images and not stats.captioned:
        return result.items, result.page, result.label, _table([]), "no captions yet: run Tag on this folder first"
    return result.items, result.page, result.label, _table(stats.table(30)), ", ".join(stats.traits()) or "none"


def _table(rows: list) -> list:
    """The frequency table's rows; one blank row for none, as gradio 3 shows an empty table (gradio 4 drops a column
    heading of a table with no row at all)."""
    return rows or [[""] * len(FREQUENCY_COLUMNS)]


def _then_preview(tab: DatasetTab, event, out: gr.Textbox, preview: PreviewSection) -> None:
    """After a step, show the folder it wrote in the preview."""
    event.then(tab.shown_path, out, preview.folder).then(tab.preview, [preview.folder, preview.page], preview.outputs)


def _wire_step(tab: DatasetTab, step: Step, call: Callable, preview: PreviewSection) -> None:
    """Run → the step's log, then its output folder in the preview; Cancel stops it between files."""

    def run(*values, progress=gr.Progress()):
        return call(*values, progress)

    event = step.run.click(_sentence(run, step.key.capitalize()), step.inputs, step.log, api_name=step.key)
    _then_preview(tab, event, step.out, preview)
    step.cancel.click(lambda: tab.cancels.cancel(step.key), None, step.log, queue=False,
                      api_name=f"{step.key}_cancel")


def _wire_vocabulary(tab: DatasetTab, tag: TagSection) -> None:
    """Choosing a found tag list shows its numbering; another path leaves it to the file (auto)."""
    if tab.host.vocabularies:
        tag.vocab.change(tab.numbering_for, tag.vocab, tag.numbering, queue=False)


def _wire_template(tab: DatasetTab, template: TemplateSection) -> None:
    proposed = {template_name(kind) for kind in TEMPLATE_KINDS}

    def name_for(kind: str, name: str) -> str:  # a name of the user's own stays
        return template_name(kind) if name.strip() in proposed or not name.strip() else name

    template.kind.change(name_for, [template.kind, template.name], template.name, queue=False)
    template.run.click(_sentence(tab.template, "Template"), template.inputs, template.log, api_name="template")


def _wire_paths(tab: DatasetTab, boxes: list) -> None:
    """A path typed relative is shown absolute once typed: where it lies in the datasets folder."""
    for box in boxes:
        box.blur(tab.shown_path, box, box, queue=False)


def _wire_folders(tab: DatasetTab, header: Header, steps: list[Step], train: TrainSection,
                  preview: PreviewSection) -> None:
    fetch, tag, augment, template = steps
    outputs = [fetch.out, tag.src, tag.out, augment.src, augment.out, preview.folder, template.out, train.name]
    for box in (header.root, header.name):
        box.change(lambda r, n: _folders_update(tab, r, n), [header.root, header.name], outputs, queue=False)
    for done_typing in (header.name.submit, header.name.blur):  # naming an existing dataset shows its training set
        done_typing(lambda r, n: tab.preview(tab.step_folders(r, n)[2], 1), [header.root, header.name],
                    preview.outputs)


def _request_inputs(train: TrainSection, augment: AugmentSection, template: TemplateSection) -> list:
    """The controls a training request is made of (see :func:`_train_request`): Train's, the training folder and
    the template's."""
    return ([train.kind, train.name, augment.out, template.out, template.name, train.learn_rate, train.steps]
            + train.request_rest)


def _train_request(tab: DatasetTab, kind, name, data_root, tpl_dir, tpl_name, *rest) -> TrainRequest:
    template_file = str(tab.path(tpl_dir) / (safe_user_name(tpl_name or "template") + ".txt"))
    return tab.request(kind, name, str(tab.path(data_root)) if str(data_root or "").strip() else "", template_file,
                       *rest)


def _check(tab: DatasetTab, create_new, *values) -> list[str]:
    return tab.check(_train_request(tab, *values), creating=create_new)


def _wire_schedule(tab: DatasetTab, blocks: gr.Blocks, train: TrainSection) -> None:
    """Preset and schedule follow each other and the kind; the explanation follows the schedule and the steps."""

    def chosen(key):  # a preset chosen: its schedule; "custom" (a schedule of one's own) leaves the schedule alone
        if key == schedules.CUSTOM:
            return gr.update(), CUSTOM_WHY
        return schedules.preset(key).schedule, schedules.preset(key).why

    def named(text):
        found = schedules.preset_of(text)
        return found.key if found else schedules.CUSTOM

    def for_kind(kind, key):  # a hypernetwork at an embedding's rate fries: switching the kind switches the preset
        keep = key != schedules.CUSTOM and schedules.preset(key).kind == kind
        return key if keep else schedules.default_preset(kind).key

    train.preset.change(chosen, train.preset, [train.learn_rate, train.preset_why], queue=False)
    train.learn_rate.change(named, train.learn_rate, train.preset, queue=False)
    train.kind.change(for_kind, [train.kind, train.preset], train.preset, queue=False)
    for box in (train.learn_rate, train.steps):
        box.change(tab.explain, [train.learn_rate, train.steps], train.explanation, queue=False)
    blocks.load(tab.explain, [train.learn_rate, train.steps], train.explanation, queue=False)


def _wire_train(tab: DatasetTab, train: TrainSection, augment: AugmentSection, template: TemplateSection,
                blocks: gr.Blocks) -> None:
    request_inputs = _request_inputs(train, augment, template)

    def do_check(create_new, *values):
        return "\n".join(_check(tab, create_new, *values))

    def do_train(supervised, segment, tolerance, factor, floor, patience, create_new, init, vectors, layers,
                 activation, norm, dropout, overwrite, *values, progress=gr.Progress()):
        """Start the run, then follow it; a Train while one runs follows that one, whose log shows the refusal."""
        try:
            create = CreateOptions(init_text=init, vectors_per_token=int(vectors or 1), layer_structure=layers,
                                   activation=activation, layer_norm=norm, dropout=dropout,
                                   overwrite=overwrite) if create_new else None
            knobs = Knobs(segment=int(segment or 500), tolerance=float(tolerance), factor=float(factor),
                          floor=float(floor) if str(floor).strip() else None,
                          patience=int(patience or 0)).validated() if supervised else None
            run_id = tab.start_training(_train_request(tab, *values), create, knobs).id
        except RunRefused as exc:
            run_id = exc.run_id
        except ValueError as exc:
            yield f"error: {exc}", None, [], ""
            return
        except Exception as exc:
            yield _error_line("Train", exc), None, [], ""
            return
        yield from follow_run(tab.runs, run_id, progress)

    def show_run(progress=gr.Progress()):
        """A page that opens (a reload, a second window) shows the latest run, and follows it while it runs."""
        yield from follow_run(tab.runs, None, progress)

    train.check.click(_sentence(do_check, "Check"), train.create_inputs[:1] + request_inputs, train.log,
                      api_name="check")
    train.run.click(do_train, train.knob_inputs + train.create_inputs + request_inputs, train.outputs,
                    api_name="train")
    train.cancel.click(tab.runs.interrupt, None, train.log, queue=False, api_name="train_cancel")
    blocks.load(show_run, None, train.outputs, api_name="train_run")
    if train.aesthetic is not None:
        _wire_aesthetic(tab, train.aesthetic, augment, blocks)


def _wire_aesthetic(tab: DatasetTab, aesthetic: AestheticSection, augment: AugmentSection, blocks: gr.Blocks) -> None:
    """The button makes the embedding from the training folder, then the list shows what the extension lists."""
    said = _sentence(tab.aesthetic_embedding, "Aesthetic embedding")

    def make(name, folder, batch, overwrite, progress=gr.Progress()):
        return said(name, folder, batch, overwrite, progress), tab.aesthetic_names()

    aesthetic.run.click(make, [aesthetic.name, augment.out, aesthetic.batch, aesthetic.overwrite],
                        [aesthetic.log, aesthetic.listed], api_name="aesthetic")
    aesthetic.cancel.click(lambda: tab.cancels.cancel("aesthetic", AESTHETIC_INTERRUPTING), None, aesthetic.log,
                           queue=False, api_name="aesthetic_cancel")
    blocks.load(tab.aesthetic_names, None, aesthetic.listed, queue=False)


def _wire_preview(tab: DatasetTab, preview: PreviewSection) -> None:
    shown = [preview.folder, preview.page]
    preview.refresh.click(tab.preview, shown, preview.outputs, api_name="preview")
    preview.prev.click(lambda f, p: tab.preview(f, int(p or 1) - 1), shown, preview.outputs)
    preview.next.click(lambda f, p: tab.preview(f, int(p or 1) + 1), shown, preview.outputs)


def _wire_run_all(tab: DatasetTab, header: Header, steps: list[Step], train: TrainSection, preview: PreviewSection
                  ) -> None:
    check_inputs = train.create_inputs[:1] + _request_inputs(train, steps[2], steps[3])
    groups = [step.inputs for step in steps] + [check_inputs]

    def do_all(*values, progress=gr.Progress()):
        split, start = [], 0
        for group in groups:
            split.append(values[start:start + len(group)])
            start += len(group)
        *step_values, check_values = split
        yield from run_all_steps(tab, progress, *step_values, check=lambda: _check(tab, *check_values))

    event = header.run_all.click(do_all, [c for group in groups for c in group],
                                 [header.log] + [step.log for step in steps], api_name="run_all")
    _then_preview(tab, event, steps[2].out, preview)


def build_ui(host: Optional[Host] = None) -> gr.Blocks:
    """The Dataset tab as a Blocks, for ``on_ui_tabs`` or for launching alone."""
    host = host or standalone_host()
    tab = DatasetTab(host)
    enclosing = _enclosing_blocks()
    before = {id(e) for e in _events(enclosing)}
    with gr.Blocks(analytics_enabled=False, title="Dataset", css=_style()) as blocks:
        header = _header_section(host)
        fetch = _fetch_section()
        tag = _tag_section(host, fetch)
        augment = _augment_section(tag)
        template = _template_section(host)
        train = _train_section(host)
        preview = _preview_section()

        steps = [fetch, tag, augment, template]
        _wire_folders(tab, header, steps, train, preview)
        _wire_paths(tab, [header.root, fetch.out, tag.src, tag.out, *tag.files, augment.src, augment.out,
                          template.out, preview.folder])
        _wire_step(tab, fetch, tab.fetch, preview)
        _wire_step(tab, tag, tab.tag, preview)
        _wire_vocabulary(tab, tag)
        _wire_step(tab, augment, tab.augment, preview)
        _wire_template(tab, template)
        _wire_schedule(tab, blocks, train)
        _wire_train(tab, train, augment, template, blocks)
        _wire_preview(tab, preview)
        _wire_run_all(tab, header, steps, train, preview)
    guard_every_event(_events(blocks) + [e for e in _events(enclosing) if id(e) not in before], host.access)
    return blocks


RUN_ALL_STEPS = ("fetch", "tag", "augment", "template")
FED_BY_THE_STEP_BEFORE = ("tag", "augment")  # each works on what the step before it made; the template on nothing


def run_all_steps(tab: DatasetTab, progress, fetch_values, tag_values, aug_values, tpl_values,
                  check: Callable[[], list[str]]) -> Iterator[tuple]:
    """The steps in order with the current settings, then the readiness check of the training folder.

    Yields (the Run all log, then each step's own log) as they fill.  Files that fail are listed and never stop the
    chain.  A step that fails as a whole, or makes nothing, stops the steps fed by it, with its sentence; the
    template is written all the same, and the check of the training folder has the last word: ready only when
    Check would let training start.  The user's Cancel stops everything.
    """
    calls = {"fetch": lambda: tab.fetch(*fetch_values, progress), "tag": lambda: tab.tag(*tag_values, progress),
             "augment": lambda: tab.augment(*aug_values, progress), "template": lambda: tab.template(*tpl_values)}
    summary: list[str] = []
    logs = dict.fromkeys(RUN_ALL_STEPS, "")
    stopped_at = None

    def shown() -> tuple:
        return ("\n".join(summary), *logs.values())

    for step in RUN_ALL_STEPS:
        if stopped_at and step in FED_BY_THE_STEP_BEFORE:
            logs[step] = f"not run: {stopped_at} made nothing for it to work on"
            summary.append(f"{step}: {logs[step]}")
            continue
        logs[step] = "running…"
        summary.append(f"{step}: running…")
        yield shown()
        try:
            result = calls[step]()
        except Cancelled as exc:
            logs[step] = _said(exc)
            summary[-1] = f"{step}: {logs[step]}"
            yield shown()
            return
        except DatasetError as exc:
            logs[step] = _said(exc)
            summary[-1] = f"{step}: {logs[step]}"
            stopped_at = step
            yield shown()
            continue
        logs[step] = result.text()
        first, *rest = result.summary()
        summary[-1:] = [f"{step}: {first}", *rest]
        if result.nothing:
            summary.append(f"stopped: {result.nothing}")
            stopped_at = step
        yield shown()
    try:
        *findings, verdict_line = check()
    except DatasetError as exc:
        findings, verdict_line = [], f"check: {_said(exc)}"
    summary += ["check of the training folder:"] + [f"  {line}" for line in findings] + [verdict_line]
    yield shown()


def _folders_update(tab: DatasetTab, root: str, name: str):
    downloaded, tagged, train = tab.step_folders(root, name)
    templates = tab.host.templates_dir or (Path(train).parent if train else "")
    return (downloaded, downloaded, tagged, tagged, train, train, str(templates), name.strip())


def enable_queue(blocks: gr.Blocks) -> gr.Blocks:
    """Let Cancel and the preview run while a step works, under gradio 3 and 4."""
    if GRADIO_4:
        return blocks.queue(default_concurrency_limit=4)
    return blocks.queue(concurrency_count=4)
