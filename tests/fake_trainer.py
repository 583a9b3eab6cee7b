"""A stand-in for the web UI's textual-inversion / hypernetwork train functions, as far as the files go.

It follows A1111 1.10's trainers (``webui-api.md`` §3–4) in what a supervisor can see:

* same keyword signature as ``train_embedding`` / ``train_hypernetwork`` (1.7+ names), ints asserted;
* the run's log folder ``<log_directory>/<YYYY-MM-DD>/<name>/``;
* the step is counted after each optimizer step; training goes on while the schedule (read with the
  trainer's resume rules: items at or before the current step skipped, steps cut to ``steps``) lasts;
* a copy ``<log>/embeddings/<name>-N.pt`` (``hypernetworks/`` for hypernetworks) whenever
  ``N = step + 1`` is a multiple of the save interval, so copy ``-N`` holds step ``N - 1``;
* a loss row ``step,epoch,epoch_step,loss,learn_rate`` (header when the file is new, loss as ``%.7f``,
  ``\\r\\n`` line ends) whenever the step is a multiple of ``opts.training_write_csv_every`` (0: never);
* the final ``<embeddings_dir>/<name>.pt``; embeddings train the copy held in memory (the host must reload
  after replacing the file), hypernetworks load the file at the start of every call;
* an exception inside the loop is only logged ("finished at 0 steps"): for embeddings the final file is
  then not saved, for hypernetworks it is.

Files are small JSON documents named ``.pt``, holding ``name``, ``step`` and a ``weight`` that every
step moves by its rate, so copies at different steps or rates differ.  The loss is scripted:
``curve(step, rate)`` returns the loss logged for that step.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

from sd_dataset.supervisor import SegmentResult, TrainerHooks, restore_file, trainer_log_folder, trainer_loss_csv

LossCurve = Callable[[int, float], float]


def read_state(path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _schedule(text: str, max_steps: int, cur_step: int) -> List[tuple]:
    """The (rate, until) pairs the trainer uses, resuming at ``cur_step`` (its reading, written anew)."""
    pairs = []
    for raw in text.split(","):
        if not raw.strip():
            continue
        parts = raw.split(":")
        if len(parts) == 2:
            until = int(parts[1])
            if until > cur_step:
                pairs.append((float(parts[0]), min(until, max_steps)))
                if until > max_steps:
                    break
            elif until == -1:
                pairs.append((float(parts[0]), max_steps))
                break
        else:
            pairs.append((float(parts[0]), max_steps))
            break
    if not pairs:
        raise Exception("Invalid learning rate schedule.")
    return pairs


@dataclass
class Call:
    kind: str
    learn_rate: str
    steps: int
    start_step: int
    end_step: int = 0


@dataclass
class FakeTrainer:
    root: Path
    curve: LossCurve
    kind: str = "embedding"
    name: str = "thing"
    csv_every: int = 500  # opts.training_write_csv_every
    images_per_epoch: int = 10
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime(2024, 5, 6, 12, 0, 0)
    fail_at_step: Optional[int] = None  # raise inside the loop when this step is about to be trained
    interrupt_at_step: Optional[int] = None  # shared.state.interrupt() once this step is reached
    on_step: Optional[Callable[[int], bool]] = None  # called before each step with the current step; True stops
    calls: List[Call] = field(default_factory=list)
    loaded: Dict[str, dict] = field(default_factory=dict)  # the embedding database (embeddings only)
    last_copy: Optional[Path] = None  # the last copy saved (the trainer's "Last saved embedding")

    @property
    def model_dir(self) -> Path:
        return self.root / ("embeddings" if self.kind == "embedding" else "hypernetworks")

    def file(self, name: Optional[str] = None) -> Path:
        return self.model_dir / f"{name or self.name}.pt"

    def create(self, name: Optional[str] = None) -> Path:
        """``create_embedding`` / ``create_hypernetwork``: a new file at step 0 (then loaded, for embeddings)."""
        name = name or self.name
        self.model_dir.mkdir(parents=True, exist_ok=True)
        self._save({"name": name, "step": 0, "weight": 0.0}, self.file(name))
        self.reload()
        return self.file(name)

    def reload(self) -> None:
        """``load_textual_inversion_embeddings(force_reload=True)``: read every file again."""
        self.loaded = {path.stem: read_state(path) for path in sorted(self.model_dir.glob("*.pt"))}

    def current_step(self, name: Optional[str] = None) -> int:
        name = name or self.name
        if self.kind == "embedding":
            return int(self.loaded[name]["step"])
        return int(read_state(self.file(name))["step"])

    @staticmethod
    def _save(state: dict, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(state, sort_keys=True), encoding="utf-8")

    def _write_loss(self, folder: Path, step: int, epoch_len: int, loss: float, rate: float) -> None:
        if self.csv_every == 0 or step % self.csv_every != 0:
            return
        path = trainer_loss_csv(folder, self.kind)
        new = not path.exists()
        with open(path, "a+", newline="") as fh:
            if new:
                fh.write("step,epoch,epoch_step,loss,learn_rate\r\n")
            fh.write(f"{step},{(step - 1) // epoch_len},{(step - 1) % epoch_len},{loss:.7f},{rate}\r\n")

    def _train(self, name: str, learn_rate: str, steps: int, log_directory: str, save_every: int,
               create_image_every: int, batch_size: int, gradient_step: int) -> None:
        for value in (batch_size, gradient_step, steps, save_every, create_image_every):
            assert isinstance(value, int) and not isinstance(value, bool), "must be integer"
        assert steps > 0, "Max steps must be positive"
        folder = trainer_log_folder(log_directory, name, self.now())
        copies = folder / ("embeddings" if self.kind == "embedding" else "hypernetworks")
        if save_every > 0:
            copies.mkdir(parents=True, exist_ok=True)
        if create_image_every > 0:
            (folder / "images").mkdir(parents=True, exist_ok=True)
        if self.kind == "embedding":
            state = self.loaded[name]  # KeyError when not loaded, as the real one
        else:
            state = read_state(self.file(name))
        initial = int(state.get("step") or 0)
        call = Call(self.kind, learn_rate, steps, initial)
        self.calls.append(call)
        if initial >= steps:
            call.end_step = initial
            return
        pairs = iter(_schedule(learn_rate, steps, initial))
        rate, until = next(pairs)
        failed = False
        try:
            while True:
                if state["step"] >= until:
                    try:
                        rate, until = next(pairs)
                    except StopIteration:
                        break
                if self.interrupt_at_step is not None and state["step"] >= self.interrupt_at_step:
                    break
                if self.on_step is not None and self.on_step(state["step"]):
                    break  # the web UI's stub: shared.state.interrupted
                if self.fail_at_step is not None and state["step"] + 1 >= self.fail_at_step:
                    raise RuntimeError("CUDA error: scripted failure")
                state["step"] += 1
                state["weight"] = round(state["weight"] + rate, 12)
                step = state["step"]
                loss = self.curve(step, rate)
                done = step + 1
                if save_every > 0 and done % save_every == 0:
                    self.last_copy = copies / f"{name}-{done}.pt"
                    self._save({**state, "name": f"{name}-{done}"}, self.last_copy)
                self._write_loss(folder, step, self.images_per_epoch, loss, rate)
                if create_image_every > 0 and done % create_image_every == 0:
                    (folder / "images" / f"{name}-{done}.png").write_bytes(b"\x89PNG fake")
        except Exception as exc:  # the real trainers only log it
            print(f"Error training {self.kind}: {exc}")
            failed = True
        if not (failed and self.kind == "embedding"):
            self._save({**state, "name": name}, self.file(name))
        call.end_step = state["step"]

    def train_embedding(self, id_task, embedding_name, learn_rate, batch_size, gradient_step, data_root,
                        log_directory, training_width, training_height, varsize, steps, clip_grad_mode,
                        clip_grad_value, shuffle_tags, tag_drop_out, latent_sampling_method, use_weight,
                        create_image_every, save_embedding_every, template_filename,
                        save_image_with_stored_embedding, preview_from_txt2img, preview_prompt,
                        preview_negative_prompt, preview_steps, preview_sampler_name, preview_cfg_scale, preview_seed,
                        preview_width, preview_height):
        assert self.kind == "embedding"
        self._train(embedding_name, learn_rate, steps, log_directory, save_embedding_every, create_image_every,
                    batch_size, gradient_step)
        return self.loaded[embedding_name], str(self.file(embedding_name))

    def train_hypernetwork(self, id_task, hypernetwork_name, learn_rate, batch_size, gradient_step, data_root,
                           log_directory, training_width, training_height, varsize, steps, clip_grad_mode,
                           clip_grad_value, shuffle_tags, tag_drop_out, latent_sampling_method, use_weight,
                           create_image_every, save_hypernetwork_every, template_filename, preview_from_txt2img,
                           preview_prompt, preview_negative_prompt, preview_steps, preview_sampler_name,
                           preview_cfg_scale, preview_seed, preview_width, preview_height):
        assert self.kind == "hypernetwork"
        self._train(hypernetwork_name, learn_rate, steps, log_directory, save_hypernetwork_every, create_image_every,
                    batch_size, gradient_step)
        return None, str(self.file(hypernetwork_name))


def fake_host(trainer: FakeTrainer, reload_after_restore: bool = True) -> TrainerHooks:
    """The :class:`TrainerHooks` of the stand-in trainer, the way the web UI glue is meant to build one."""

    def train_segment(request, rate, end_step) -> SegmentResult:
        assert request.learn_rate == rate and request.steps == end_step
        train = trainer.train_embedding if request.kind == "embedding" else trainer.train_hypernetwork
        train("task(test)", **request.webui_kwargs())
        folder = trainer_log_folder(request.log_directory, request.name, trainer.now())
        return SegmentResult(step=trainer.current_step(request.name), loss_csv=trainer_loss_csv(folder, request.kind),
                             current_file=trainer.file(request.name), log_folder=folder, copy=trainer.last_copy)

    def restore_copy(path) -> None:
        restore_file(path, trainer.file())
        if reload_after_restore:
            trainer.reload()

    def set_csv_every(n: int) -> int:
        previous, trainer.csv_every = trainer.csv_every, n
        return previous

    return TrainerHooks(train_segment=train_segment, restore_copy=restore_copy, set_csv_every=set_csv_every,
                        current_step=trainer.current_step, current_file=trainer.file)
