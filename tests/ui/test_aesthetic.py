"""The Train section's CLIP aesthetic embedding, made by the aesthetic-gradients extension inside a stand-in web UI
1.10 (``tests/webui_stub``, its extension under ``tests/webui_stub/extensions``), loaded as the web UI loads scripts."""

import shutil
import sys
import threading
import time
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio")
numpy = pytest.importorskip("numpy")

from ui.test_webui import (STUB, TAB_PAGE, _api_function, _event_functions, _NoBar, package, wait_until,  # noqa: F401
                          webui)

# the folder "Install from URL" clones it into: the repository's name
EXTENSION = "stable-diffusion-webui-aesthetic-gradients"
URL = "https://github.com/AUTOMATIC1111/stable-diffusion-webui-aesthetic-gradients"
COLOURS = [(200, 40, 40), (40, 200, 40), (40, 40, 200)]


@pytest.fixture
def aesthetic(webui):
    """The web UI with the aesthetic-gradients extension installed beside this one, then every extension's scripts
    loaded again as Reload UI loads them (``modules.scripts.load_scripts``); the extension's folder."""
    import stub_control
    from modules import errors, extensions, scripts, shared

    folder = Path(shared.data_path) / "extensions" / EXTENSION
    shutil.copytree(STUB / "extensions" / EXTENSION, folder, ignore=shutil.ignore_patterns("__pycache__"))
    extensions.list_extensions()
    scripts.load_scripts()
    assert not errors.reported, errors.reported
    module = sys.modules["aesthetic_clip"]
    assert Path(module.aesthetic_embeddings_dir) == folder / "aesthetic_embeddings"  # basedir() while it loaded
    assert str(folder) not in sys.path
    yield folder
    if stub_control.settings.aesthetic_pause is not None:  # a test that failed while the extension held: let it end
        stub_control.settings.aesthetic_pause.resume.set()
    sys.modules.pop("aesthetic_clip", None)


def training_folder(root: Path, colours=COLOURS) -> Path:
    """A training folder as Augment leaves it: one PNG and its caption per colour."""
    from PIL import Image

    folder = root / "panda" / "train"
    folder.mkdir(parents=True)
    for i, colour in enumerate(colours):
        Image.new("RGB", (64, 48), colour).save(folder / f"img{i}.png")
        (folder / f"img{i}.txt").write_text(f"red panda, pose {i}", encoding="utf-8")
    return folder


def the_tab():
    """The tab as the web UI builds it (its ui_tabs callback), and its aesthetic button's function and inputs."""
    from modules import script_callbacks

    (blocks, _, _), = [t for t in script_callbacks.ui_tabs_callback() if t[2] == "sd_dataset"]
    return blocks, _api_function(blocks, "aesthetic")


def press(folder, name="panda_style", batch=16, overwrite=False, tab=None):
    """Press the button of ``tab`` (default: a new one) as the browser does: (the log, the list)."""
    _, (function, inputs) = tab or the_tab()
    assert [getattr(c, "elem_id", None) for c in inputs] == ["sdds_aesthetic_name", "sdds_aug_out",
                                                             "sdds_aesthetic_batch", "sdds_aesthetic_overwrite"]
    return function(TAB_PAGE, name, str(folder), batch, overwrite, progress=_NoBar())


def embeddings(ext: Path) -> dict:
    return {p.name: p.read_bytes() for p in (ext / "aesthetic_embeddings").iterdir()}


def features(path: Path):
    """The stand-in's CLIP features of one image (see its aesthetic_clip._image_features)."""
    from PIL import Image

    with Image.open(path) as image:
        return numpy.asarray(image.convert("RGB").resize((16, 16), Image.BICUBIC), dtype=numpy.float32).reshape(-1) / 255


# --- making one ----------------------------------------------------------------------------------------------------

def test_the_button_makes_the_embedding_of_the_training_folder_and_the_list_shows_it(aesthetic, tmp_path):
    import stub_control
    from modules import errors

    folder = training_folder(tmp_path)
    log, listed = press(folder)
    target = aesthetic / "aesthetic_embeddings" / "panda_style.pt"
    assert log.splitlines() == [
        f"made the aesthetic embedding panda_style from the 3 images in {folder} (batch size 16, the CLIP "
        f"{stub_control.CLIP_NAME}): {target}",
        'in txt2img and img2img, press 🔄 beside "Aesthetic imgs embedding" to list it']
    saved = numpy.load(target)
    assert saved.shape == (1, 768)
    assert numpy.allclose(saved[0], numpy.mean([features(p) for p in sorted(folder.glob("*.png"))], axis=0))
    assert listed == "panda_style"
    # what txt2img's generation reads to find the file once the embedding is chosen there
    assert dict(sys.modules["aesthetic_clip"].aesthetic_embeddings) == {"None": None, "panda_style": str(target)}
    assert list(embeddings(aesthetic)) == ["panda_style.pt"]  # no partial file left behind
    (args, kwargs), = stub_control.called("generate_imgs_embd")
    assert args[1:] == (str(folder), 16) and kwargs["model"] == stub_control.CLIP_NAME
    assert not errors.reported, errors.reported


def test_the_list_shows_what_the_extension_lists_when_the_page_opens(aesthetic, tmp_path):
    from PIL import Image

    for name in ("b_style", "a_style"):
        with open(aesthetic / "aesthetic_embeddings" / f"{name}.pt", "wb") as fh:
            numpy.save(fh, numpy.zeros((1, 768)))
    Image.new("RGB", (8, 8)).save(aesthetic / "aesthetic_embeddings" / "not_an_embedding.png")
    sys.modules["aesthetic_clip"].update_aesthetic_embeddings()  # as at start, or its 🔄 in txt2img
    blocks, _ = the_tab()
    listed = next(b for b in blocks.blocks.values() if getattr(b, "elem_id", None) == "sdds_aesthetic_list")
    loads = [fn for events, outputs, _, fn in _event_functions(blocks)
             if events == ["load"] and outputs == [listed._id]]
    assert len(loads) == 1
    assert loads[0](TAB_PAGE) == "a_style, b_style"


def test_batches_of_the_size_chosen_make_the_same_average(aesthetic, tmp_path):
    import stub_control

    folder = training_folder(tmp_path)
    press(folder, "one", batch=1)
    press(folder, "all", batch=16)
    assert [a[2] for a, _ in stub_control.called("generate_imgs_embd")] == [1, 16]
    one, every = (numpy.load(aesthetic / "aesthetic_embeddings" / f"{n}.pt") for n in ("one", "all"))
    assert numpy.allclose(one, every)


def pressed_behind_a_generation(folder, tab=None, **options):
    """Press the button while the test holds the queue lock, as a txt2img generation does, and return once the call
    waits in the web UI's queue: (the thread, where its result lands)."""
    from modules import progress

    out = {}
    button = threading.Thread(target=lambda: out.update(said=press(folder, tab=tab, **options)))
    button.start()
    wait_until(lambda: progress.pending_tasks)
    return button, out


# --- the web UI's queue --------------------------------------------------------------------------------------------

def test_it_waits_for_the_web_uis_queue_and_runs_inside_its_lock(aesthetic, tmp_path):
    """A generation holds the queue lock: the embedding is made after it, never beside it."""
    import stub_control
    from modules import call_queue, progress

    folder = training_folder(tmp_path)
    with call_queue.queue_lock:  # a txt2img generation
        button, out = pressed_behind_a_generation(folder)
        time.sleep(1.0)
        assert not stub_control.called("generate_imgs_embd") and "said" not in out
    button.join(30)
    assert out["said"][0].startswith("made the aesthetic embedding panda_style"), out
    (_, kwargs), = stub_control.called("generate_imgs_embd")
    assert kwargs["queue_lock_held"]
    assert len(progress.finished_tasks) == 1 and not progress.pending_tasks  # a task of the web UI's queue


# --- interrupting --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["tab", "web UI"])
def test_interrupt_saves_nothing_and_keeps_the_old_embedding(aesthetic, tmp_path, who):
    import stub_control
    from modules import shared

    folder = training_folder(tmp_path)
    press(folder, "panda_style")
    before = embeddings(aesthetic)
    blocks, (function, _) = the_tab()
    cancel, _ = _api_function(blocks, "aesthetic_cancel")
    pause = stub_control.aesthetic_pause_at(1)
    out = {}
    button = threading.Thread(target=lambda: out.update(said=function(TAB_PAGE, "panda_style", str(folder), 1, True,
                                                                      progress=_NoBar())))
    button.start()
    assert pause.reached.wait(30)
    if who == "tab":
        assert cancel(TAB_PAGE) == "interrupting: the extension stops after the current batch, and nothing is saved"
        wait_until(lambda: shared.state.interrupted)  # passed on to the web UI while the extension runs
    else:
        shared.state.interrupt()  # the web UI's own Interrupt button
    pause.resume.set()
    button.join(30)
    log, listed = out["said"]
    target = aesthetic / "aesthetic_embeddings" / "panda_style.pt"
    assert log == f"interrupted: nothing saved, {target} is as it was"
    assert embeddings(aesthetic) == before  # no half average, no partial file
    assert listed == "panda_style"


def test_interrupt_while_waiting_for_the_queue_makes_nothing(aesthetic, tmp_path):
    import stub_control
    from modules import call_queue

    tab = the_tab()
    cancel, _ = _api_function(tab[0], "aesthetic_cancel")
    with call_queue.queue_lock:
        button, out = pressed_behind_a_generation(training_folder(tmp_path), tab)
        assert cancel(TAB_PAGE).startswith("interrupting")
    button.join(30)
    assert out["said"][0].startswith("interrupted: nothing saved"), out
    assert embeddings(aesthetic) == {}
    assert len(stub_control.called("generate_imgs_embd")) == 1  # it ran, and stopped before its first batch


# --- errors: one sentence, nothing written -------------------------------------------------------------------------

def test_a_name_taken_is_refused_unless_overwrite_is_ticked(aesthetic, tmp_path):
    folder = training_folder(tmp_path)
    press(folder)
    before = embeddings(aesthetic)
    log, listed = press(training_folder(tmp_path / "other", [(0, 0, 0)]))
    assert log == ('error: An aesthetic embedding named "panda_style" already exists; tick Overwrite to replace it, or '
                   "choose another name.")
    assert embeddings(aesthetic) == before and listed == "panda_style"
    log, _ = press(tmp_path / "other" / "panda" / "train", overwrite=True)
    assert log.startswith("made the aesthetic embedding panda_style from the 1 images"), log
    assert "it replaced the old one, which txt2img and img2img keep using where it was chosen" in log
    assert numpy.allclose(numpy.load(aesthetic / "aesthetic_embeddings" / "panda_style.pt"), 0)


def test_a_name_taken_while_waiting_for_the_queue_is_refused_too(aesthetic, tmp_path):
    import stub_control
    from modules import call_queue

    target = aesthetic / "aesthetic_embeddings" / "panda_style.pt"
    with call_queue.queue_lock:
        button, out = pressed_behind_a_generation(training_folder(tmp_path))
        target.write_bytes(b"made meanwhile by the extension's own tab")
    button.join(30)
    assert out["said"][0].startswith('error: An aesthetic embedding named "panda_style" already exists'), out
    assert target.read_bytes() == b"made meanwhile by the extension's own tab"
    assert not stub_control.called("generate_imgs_embd")


@pytest.mark.parametrize("name, sentence", [
    ("", "Give the aesthetic embedding a name first, e.g. red_panda_style."),
    ("../outside", 'The name "../outside" has characters an aesthetic embedding cannot be named with; use only '
                   "letters, digits, dots, hyphens, underscores and spaces."),
    ("panda.pth", 'The aesthetic-gradients extension cannot list an embedding named "panda.pth" (it drops ".pt" from '
                  'names and keeps "None" for no embedding); choose another name.'),
    ("None", 'The aesthetic-gradients extension cannot list an embedding named "None" (it drops ".pt" from names and '
             'keeps "None" for no embedding); choose another name.'),
    ("x" * 121, "The name is 121 characters long, and an aesthetic embedding's may have at most 120; choose a shorter "
                "one."),
])
def test_a_name_the_extension_cannot_keep_is_one_sentence(aesthetic, tmp_path, name, sentence):
    import stub_control

    log, _ = press(training_folder(tmp_path), name)
    assert log == f"error: {sentence}"
    assert embeddings(aesthetic) == {} and not (aesthetic / "outside.pt").exists()
    assert not stub_control.called("generate_imgs_embd")


def test_a_missing_or_empty_training_folder_is_one_sentence(aesthetic, tmp_path):
    from PIL import Image

    missing = tmp_path / "nothing" / "train"
    assert press(missing)[0] == (f"error: The training folder {missing} does not exist; run 3 · Augment first, or "
                                 "type the folder of your images in its Training folder box.")
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(empty / "sub" / "deeper.png")
    Image.new("RGB", (8, 8)).save(empty / "not_read.bmp")
    (empty / "caption.txt").write_text("red panda", encoding="utf-8")
    assert press(empty)[0] == (f"error: {empty} has no .png, .jpg, .jpeg, .gif, .tiff or .webp image, the only ones "
                               "the aesthetic-gradients extension reads (it does not look into subfolders); run 3 · "
                               "Augment first or choose the folder that holds the images.")
    assert press("")[0] == "error: Choose the training folder (3 · Augment's) first."
    assert embeddings(aesthetic) == {}


def test_an_image_that_cannot_be_read_is_one_sentence_before_the_queue(aesthetic, tmp_path):
    import stub_control

    folder = training_folder(tmp_path)
    whole = (folder / "img1.png").read_bytes()
    (folder / "img1.png").write_bytes(whole[:len(whole) // 2])  # its header opens; its pixels cannot be read
    assert press(folder)[0] == (f"error: 1 file(s) in {folder} cannot be read as images and would stop the "
                                "aesthetic-gradients extension with nothing saved (img1.png); re-download or remove "
                                "them.")
    assert not stub_control.called("generate_imgs_embd")


@pytest.mark.parametrize("batch", [0, -3, 2.5, None])
def test_a_batch_size_that_is_no_whole_number_of_one_or_more_is_one_sentence(aesthetic, tmp_path, batch):
    log, _ = press(training_folder(tmp_path), batch=batch)
    assert log == f"error: The batch size must be a whole number of 1 or more, not {batch}; enter e.g. 16."


def test_a_model_without_the_clip_it_uses_is_one_sentence(aesthetic, tmp_path):
    from types import SimpleNamespace

    import stub_control
    from modules import shared

    shared.sd_model.is_sdxl, shared.sd_model.cond_stage_model = True, SimpleNamespace()  # SDXL's conditioner
    assert press(training_folder(tmp_path))[0] == (
        "error: The aesthetic-gradients extension needs an SD1 checkpoint loaded, whose CLIP it uses (SD2 and SDXL "
        "have none it can); choose one in the checkpoint list first.")
    assert not stub_control.called("generate_imgs_embd") and embeddings(aesthetic) == {}


def test_the_extensions_own_failure_is_one_sentence_and_keeps_the_old_embedding(aesthetic, tmp_path, monkeypatch):
    from modules import errors

    folder = training_folder(tmp_path)
    press(folder)
    before = embeddings(aesthetic)
    module = sys.modules["aesthetic_clip"]
    real = module.generate_imgs_embd

    def out_of_memory(name, folder, batch_size):
        real(name, folder, batch_size)  # it wrote its file, then failed while cleaning up
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(module, "generate_imgs_embd", out_of_memory)
    log, listed = press(folder, overwrite=True)
    assert log == ("error: The aesthetic-gradients extension could not make the embedding panda_style (RuntimeError: "
                   "CUDA out of memory); the console shows the details.")
    assert embeddings(aesthetic) == before and listed == "panda_style"
    assert any("Error completing request" in r for r in errors.reported)  # the web UI's console has the traceback


# --- without the extension -----------------------------------------------------------------------------------------

def _markdowns(blocks) -> dict:
    return {b.elem_id: b.value for b in blocks.blocks.values() if isinstance(b, gr.Markdown) and b.elem_id}


def test_without_the_extension_the_train_section_says_how_to_install_it(webui):
    from sd_dataset.ui import AESTHETIC_ADVICE

    assert package(webui).webui_host().aesthetic is None
    blocks, = [t[0] for t in package(webui).on_ui_tabs()]
    shown = _markdowns(blocks)
    assert shown["sdds_aesthetic_missing"] == (
        "This web UI lacks the aesthetic-gradients extension that makes CLIP aesthetic embeddings: install it from "
        f"Extensions → Install from URL with {URL} and restart the web UI.")
    assert AESTHETIC_ADVICE not in shown.values()
    assert "aesthetic" not in [api_name for _, _, api_name, _ in _event_functions(blocks)]


def test_a_disabled_extension_counts_as_missing_though_its_module_stays_loaded(aesthetic):
    from modules import extensions, shared

    shared.opts.disabled_extensions = [EXTENSION]
    extensions.list_extensions()  # Reload UI after disabling it: sys.modules still holds aesthetic_clip
    assert "aesthetic_clip" in sys.modules and package(aesthetic.parent / "sd-webui-dataset").webui_host().aesthetic is None


def test_the_standalone_app_says_where_aesthetic_embeddings_are_made(tmp_path):
    from sd_dataset.host import Host
    from sd_dataset.ui import build_ui

    shown = _markdowns(build_ui(Host(datasets_root=tmp_path)))
    assert shown["sdds_aesthetic_missing"] == (
        "CLIP aesthetic embeddings are made inside the Stable Diffusion web UI by its aesthetic-gradients extension: "
        f"there, install it from Extensions → Install from URL with {URL} and restart the web UI.")


def test_with_the_extension_the_train_section_gives_the_guides_advice(aesthetic):
    shown = _markdowns(the_tab()[0])
    assert "sdds_aesthetic_missing" not in shown
    advice = shown["sdds_aesthetic_advice"]
    assert "start with a low Aesthetic weight" in advice and "(Aesthetic weight 0.9)" in advice
    assert "refresh only with their own 🔄 button" in advice


# --- in the browser ------------------------------------------------------------------------------------------------

def test_the_button_in_the_browser_makes_it_and_lists_it(aesthetic, tmp_path, launch_tab, browser):
    from ui.test_tab_browser import fill, wait_for_log

    folder = training_folder(tmp_path)
    url = launch_tab(package(aesthetic.parent / "sd-webui-dataset").webui_host())
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    page.goto(url)
    page.get_by_text("5 · Train").click()
    page.wait_for_selector("#sdds_aesthetic_run")
    assert "start with a low Aesthetic weight" in page.locator("#sdds_aesthetic_advice").first.inner_text()
    assert wait_for_log(page, "sdds_aesthetic_list", "none yet") == "none yet"
    fill(page, "sdds_aug_out", str(folder))
    fill(page, "sdds_aesthetic_name", "panda_style")
    page.click("#sdds_aesthetic_run")
    wait_for_log(page, "sdds_aesthetic_log", "^made the aesthetic embedding panda_style from the 3 images")
    assert wait_for_log(page, "sdds_aesthetic_list", "panda_style") == "panda_style"
    page.click("#sdds_aesthetic_run")  # again, without Overwrite
    wait_for_log(page, "sdds_aesthetic_log", '^error: An aesthetic embedding named "panda_style" already exists')
    page.locator("#sdds_aesthetic_overwrite input").check()
    page.click("#sdds_aesthetic_run")
    wait_for_log(page, "sdds_aesthetic_log", "it replaced the old one")
    page.close()
