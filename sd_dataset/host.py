"""Where the tab runs: the web UI, or the standalone app.  The tab asks its host, never a web UI module.

The web UI's glue (``webui.py``) fills a :class:`Host` with its settings, folders
and a :class:`Trainer`; the standalone app fills one from the environment and
has no trainer, so the Train section says what it would have passed instead.
"""

from __future__ import annotations

import os
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Protocol

from .access import Access
from .http import Credentials
from .progress import Progress
from .runs import RunRegistry
from .training import HostState, TrainRequest

if TYPE_CHECKING:
    from .logins import LoginStore
    from .supervisor import Decision, Knobs, RunSummary, SegmentResult

STANDALONE_NO_TRAINING = (
    "Training runs inside the Stable Diffusion web UI (AUTOMATIC1111 1.x); here the Train section checks the run "
    "and shows what it would hand the trainer, so you can start it there."
)

# the guide's "Create aesthetic images embedding" moved out of the web UI into an extension of its own, this one
AESTHETIC_GRADIENTS_URL = "https://github.com/AUTOMATIC1111/stable-diffusion-webui-aesthetic-gradients"
STANDALONE_NO_AESTHETIC = (
    "CLIP aesthetic embeddings are made inside the Stable Diffusion web UI by its aesthetic-gradients extension: "
    f"there, install it from Extensions → Install from URL with {AESTHETIC_GRADIENTS_URL} and restart the web UI."
)


@dataclass
class CreateOptions:
    """How to create a new embedding or hypernetwork (the web UI's own options)."""

    init_text: str = "*"
    vectors_per_token: int = 1
    layer_structure: str = "1, 2, 1"
    activation: str = "linear"
    weight_init: str = "Normal"
    layer_norm: bool = False
    dropout: bool = False
    overwrite: bool = False


@dataclass(frozen=True)
class FoundVocabulary:
    """A tag list the host found for the user (tag-autocomplete's, inside the web UI), and whose category numbers
    it uses (a ``VOCAB_NUMBERINGS`` key)."""

    path: Path
    numbering: str


class Trainer(Protocol):
    def host_state(self, request: TrainRequest) -> HostState: ...

    def names(self, kind: str) -> list[str]: ...

    def create(self, kind: str, name: str, options: CreateOptions) -> str: ...

    def train(self, request: TrainRequest, progress: Progress) -> str: ...

    def use_template(self, path: Path) -> None: ...

    def supervise(self, request: TrainRequest, knobs: "Knobs", progress: Progress,
                  on_decision: Optional[Callable[["Decision", "SegmentResult"], None]] = None) -> "RunSummary":
        """A supervised run (``sd_dataset.supervisor``): segments, loss watching, reverts; its summary."""
        ...


class AestheticEmbedder(Protocol):
    """The web UI's aesthetic-gradients extension: a CLIP aesthetic embedding made from a folder of images."""

    def names(self) -> list[str]:
        """The aesthetic embeddings the extension lists."""
        ...

    def make(self, name: str, folder: Path, batch_size: int, overwrite: bool, progress: Progress) -> str:
        """Make the embedding ``name`` from the images in ``folder``; what was made (DatasetError when refused)."""
        ...


@dataclass
class Host:
    name: str = "standalone"
    datasets_root: Path = field(default_factory=lambda: Path("datasets"))
    templates_dir: Optional[Path] = None  # None: beside the dataset
    credentials: Callable[[str, str], Credentials] = lambda site, env_prefix: Credentials.resolve(None, None, env_prefix)
    api_rate: Optional[float] = None  # None: the site's polite rate
    trainer: Optional[Trainer] = None
    no_training_reason: str = STANDALONE_NO_TRAINING
    #: How augment spreads its work: None is a process pool; a host whose package child processes cannot import
    #: (the web UI where processes are spawned, not forked) gives a thread pool instead.
    augment_executor: Optional[Callable[[int], Executor]] = None
    caption_defaults: dict = field(default_factory=dict)  # Tag section defaults from the host's settings, by option
    #: Where logins the user asked to remember are kept (a file of mode 0600); None: none are remembered.
    logins: Optional["LoginStore"] = None
    #: Who may drive the tab from a browser (see ``sd_dataset.access``).
    access: "Access" = field(default_factory=lambda: Access())
    #: Tag lists offered in the Tag section's vocabulary field (a typed path works too).
    vocabularies: list = field(default_factory=list)
    #: The aesthetic-gradients extension, where the web UI has it (None: the Train section says how to get it).
    aesthetic: Optional[AestheticEmbedder] = None
    no_aesthetic_reason: str = STANDALONE_NO_AESTHETIC
    #: The training run the Train section shows: a page that reloads, or a second window, finds it here.
    runs: RunRegistry = field(default_factory=RunRegistry)
    #: Taggers the host has of its own (the web UI's DeepDanbooru), offered by the Tag section's "Local tagger"
    #: beside a typed model folder: the name shown → a function making it.
    taggers: dict = field(default_factory=dict)


def standalone_host(datasets_root: Optional[Path] = None) -> Host:
    """The standalone app's host: logins the user asked to remember (the login file), else the environment."""
    from .logins import LoginStore, standalone_login_file

    root = datasets_root or Path(os.environ.get("SD_DATASET_ROOT", "datasets"))
    logins = LoginStore(standalone_login_file())

    def credentials(site: str, env_prefix: str) -> Credentials:
        kept = logins.get(env_prefix)
        return kept if kept.complete else Credentials.resolve(None, None, env_prefix)

    return Host(datasets_root=Path(root).expanduser(), logins=logins, credentials=credentials)
