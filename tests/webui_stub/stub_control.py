"""The tests' handle on the stand-in web UI: reset it into a folder, script its trainer, read what it was called with."""

from __future__ import annotations

import datetime
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Dict, List, Tuple

from fake_trainer import FakeTrainer

calls: List[Tuple[str, tuple, dict]] = []
trainers: Dict[str, FakeTrainer] = {}
settings = SimpleNamespace(step_delay=0.0, curve=lambda step, rate: 1.0 / (1 + step / 50), pause=None,
                           aesthetic_pause=None, deepbooru_download=True)
CLIP_NAME = "openai/clip-vit-large-patch14"  # the CLIP of an SD1 model (its cond_stage_model.wrapped.transformer)
CHECKPOINT_TITLE = "v1-5-pruned-emaonly.safetensors [6ce0161689]"
TEMPLATE_FILES = {"style_filewords.txt": "a painting, [filewords], by [name]\n",
                  "subject_filewords.txt": "a photo of a [name], [filewords]\n"}


def record(function: str, *args, **kwargs) -> None:
    calls.append((function, args, kwargs))


def called(function: str) -> List[Tuple[tuple, dict]]:
    return [(args, kwargs) for name, args, kwargs in calls if name == function]


def trainer(kind: str) -> FakeTrainer:
    from modules import shared

    fake = trainers[kind]
    fake.csv_every = shared.opts.training_write_csv_every
    return fake


class Pause:
    """Holds the stub's trainers at a step until the test lets them go on (``resume.set()``)."""

    def __init__(self, step: int):
        self.step = step
        self.reached = threading.Event()
        self.resume = threading.Event()

    def hold(self, step: int) -> None:
        if step == self.step and not self.resume.is_set():
            self.reached.set()
            assert self.resume.wait(120), "the test never let the paused trainer go on"


def pause_at(step: int) -> Pause:
    """Hold every training that reaches ``step`` (before it trains the next one) until the pause's resume is set."""
    settings.pause = Pause(step)
    return settings.pause


def aesthetic_pause_at(batch: int) -> Pause:
    """Hold the aesthetic-gradients extension's generate_imgs_embd before it reads batch ``batch`` (0: the first)
    until the pause's resume is set."""
    settings.aesthetic_pause = Pause(batch)
    return settings.aesthetic_pause


def on_aesthetic_batch(batch: int) -> None:
    if settings.aesthetic_pause is not None:
        settings.aesthetic_pause.hold(batch)


def _on_step(step: int) -> bool:
    from modules import shared

    shared.state.job_no = step
    if settings.pause is not None:
        settings.pause.hold(step)
    if settings.step_delay:
        time.sleep(settings.step_delay)
    return shared.state.interrupted


def api_options() -> dict:
    """What ``GET /sdapi/v1/options`` answers (``modules/api/api.py`` ``Api.get_config``): every key of
    ``opts.data``, registered or not, with its value; ``restrict_api`` plays no part."""
    from modules import shared

    return dict(shared.opts.data)


def reset(root: Path, curve: Callable[[int, float], float] | None = None) -> Path:
    """A fresh web UI in ``root``: folders, options (from ``root/config.json`` when there is one, as the web UI
    loads it before any extension), state, an SD1 model, empty databases, the extensions installed in it."""
    from modules import deepbooru, errors, extensions, options, paths, progress, sd_hijack, shared
    from modules.textual_inversion import textual_inversion

    root = Path(root)
    calls.clear()
    errors.reported.clear()
    sd_hijack.optimization_calls.clear()
    settings.step_delay = 0.0
    settings.pause = None
    settings.aesthetic_pause = None
    settings.deepbooru_download = True
    deepbooru.model = deepbooru.DeepDanbooru()  # a web UI starts with its DeepDanbooru not loaded
    paths.models_path = str(root / "models")
    progress.current_task = None
    progress.pending_tasks.clear()
    progress.finished_tasks.clear()
    if curve is not None:
        settings.curve = curve
    cmd = shared.cmd_opts
    cmd.embeddings_dir = str(root / "embeddings")
    cmd.hypernetwork_dir = str(root / "hypernetworks")
    cmd.textual_inversion_templates_dir = str(root / "textual_inversion_templates")
    cmd.lowvram = False
    cmd.ui_settings_file = shared.config_filename = str(root / "config.json")
    shared.data_path = str(root)
    Path(cmd.embeddings_dir).mkdir(parents=True, exist_ok=True)
    Path(cmd.hypernetwork_dir).mkdir(parents=True, exist_ok=True)
    Path(cmd.textual_inversion_templates_dir).mkdir(parents=True, exist_ok=True)
    for name, text in TEMPLATE_FILES.items():
        (Path(cmd.textual_inversion_templates_dir) / name).write_text(text, encoding="utf-8")
    shared.opts = options.Options(dict(shared.options_templates), set())
    shared.opts.load(shared.config_filename)
    shared.state = shared.State()
    # modules/sd_models.py CheckpointInfo of the loaded model (load_model sets model.sd_checkpoint_info): name is the
    # path under models/Stable-diffusion, title adds the sha256's first 10 digits, as the checkpoint list shows it
    checkpoint = SimpleNamespace(filename=str(root / "models" / "Stable-diffusion" / "v1-5-pruned-emaonly.safetensors"),
                                 name="v1-5-pruned-emaonly.safetensors", name_for_extra="v1-5-pruned-emaonly",
                                 model_name="v1-5-pruned-emaonly", shorthash="6ce0161689", title=CHECKPOINT_TITLE)
    shared.sd_model = SimpleNamespace(is_sdxl=False, is_sd1=True, is_sd2=False, is_sd3=False,
                                      cond_stage_model=SimpleNamespace(wrapped=SimpleNamespace(
                                          transformer=SimpleNamespace(name_or_path=CLIP_NAME))),
                                      sd_checkpoint_info=checkpoint,
                                      sd_model_checkpoint=checkpoint.filename)
    shared.hypernetworks = {}
    sd_hijack.model_hijack = sd_hijack.StableDiffusionModelHijack()
    sd_hijack.model_hijack.embedding_db.add_embedding_dir(cmd.embeddings_dir)
    textual_inversion.list_textual_inversion_templates()
    shared.reload_hypernetworks()
    extensions.extensions_dir = str(root / "extensions")
    extensions.extensions_builtin_dir = str(root / "extensions-builtin")
    extensions.list_extensions()  # as the web UI does at start, before it loads any extension's scripts
    for kind in ("embedding", "hypernetwork"):
        trainers[kind] = FakeTrainer(root, lambda step, rate: settings.curve(step, rate), kind=kind,
                                     now=datetime.datetime.now, on_step=_on_step)
    return root
