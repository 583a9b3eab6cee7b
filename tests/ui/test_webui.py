"""The extension inside a stand-in web UI 1.10 (``tests/webui_stub``), loaded the way the web UI loads it."""

import dataclasses
import importlib.metadata
import importlib.util
import json
import os
import shutil
import sys
import threading
import time
from types import SimpleNamespace
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio")

REPO = Path(__file__).resolve().parents[2]
STUB = REPO / "tests" / "webui_stub"


@pytest.fixture
def webui(tmp_path, monkeypatch, request):
    """A web UI folder with the extension installed (a copy), its script loaded as web UI 1.10 does; parametrized
    indirectly, the web UI starts with that config.json."""
    webui_config = getattr(request, "param", None)
    ext = tmp_path / "webui" / "extensions" / "sd-webui-dataset"
    for item in ("sd_dataset", "scripts", "install.py"):
        source = REPO / item
        (shutil.copytree if source.is_dir() else shutil.copy)(source, ext / item)
    if webui_config is not None:
        (tmp_path / "webui" / "config.json").write_text(json.dumps(webui_config, indent=4), encoding="utf-8")
    monkeypatch.chdir(tmp_path / "webui")  # the web UI runs in its own folder: relative log folders land there
    sys.path.insert(0, str(STUB))
    import fake_trainer  # noqa: F401  (imports the repo's sd_dataset for its helpers, before it is set aside)
    import stub_control
    saved_modules = {k: v for k, v in sys.modules.items() if k == "sd_dataset" or k.startswith("sd_dataset.")}
    for key in saved_modules:
        del sys.modules[key]
    saved_path = list(sys.path)
    repo_entries = {str(REPO), ".", ""}
    sys.path[:] = [p for p in sys.path if p not in repo_entries and Path(p or ".").resolve() != REPO]
    from modules import script_callbacks

    stub_control.reset(tmp_path / "webui")
    script_callbacks.clear_callbacks()

    # modules/scripts.py load_scripts(): the extension root on sys.path only while the file runs;
    # script_loading.load_module(): spec_from_file_location(basename), not put in sys.modules
    script = ext / "scripts" / "dataset_tab.py"
    syspath = sys.path
    sys.path = [str(ext)] + sys.path
    try:
        spec = importlib.util.spec_from_file_location(script.name, script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path = syspath
    assert "dataset_tab.py" not in sys.modules and str(ext) not in sys.path
    yield ext
    if stub_control.settings.pause is not None:  # a test that failed while a trainer held: let it end
        stub_control.settings.pause.resume.set()
    for key in [k for k in sys.modules if k == "sd_dataset" or k.startswith("sd_dataset.")]:
        del sys.modules[key]
    sys.modules.update(saved_modules)
    sys.path[:] = saved_path


def package(ext, name="webui"):
    module = sys.modules[f"sd_dataset.{name}"]
    assert Path(module.__file__).resolve().is_relative_to(ext.resolve())  # the installed copy, not the repo
    return module


def dataset(root: Path, count=3) -> Path:
    from PIL import Image

    folder = root / "train"
    folder.mkdir(parents=True)
    for i in range(count):
        Image.new("RGB", (64, 64), (i * 40, 80, 120)).save(folder / f"img{i}.png")
        (folder / f"img{i}.txt").write_text(f"red panda, solo, pose {i}", encoding="utf-8")
    return folder


def template(name="panda.txt") -> Path:
    from modules import shared

    path = Path(shared.cmd_opts.textual_inversion_templates_dir) / name
    path.write_text("a photo of [name], [filewords]\n", encoding="utf-8")
    return path


def wait_for_end(tab, run_id, timeout=60):
    """The run ``run_id`` once it has ended."""
    deadline = time.monotonic() + timeout
    view = tab.runs.wait(run_id, -1, 0)
    while view.running:
        assert time.monotonic() < deadline, f"the run did not end: {view.text()}"
        view = tab.runs.wait(run_id, view.version, 1)
    return view


def wait_until(condition, timeout=20):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.02)


def train_to_end(tab, request, create=None, knobs=None):
    """Train through the tab's run, as its Train button does; the run once it has ended."""
    return wait_for_end(tab, tab.start_training(request, create, knobs).id)


def failure(view) -> str:
    """The sentence of a run that failed."""
    assert view.state == "failed", view.text()
    assert view.lines[-1].startswith("error: "), view.text()
    return view.lines[-1][len("error: "):]


def tab_and_request(ext, tmp_path, kind="embedding", name="panda", steps=12, learn_rate="0.005:6, 0.001"):
    from sd_dataset.ui import DatasetTab
    from sd_dataset.training import TrainRequest

    webui_mod = package(ext)
    host = webui_mod.webui_host()
    request = TrainRequest(name=name, data_root=str(dataset(tmp_path)), template_file=str(template()),
                           learn_rate=learn_rate, steps=float(steps), kind=kind, save_every=4.0,
                           create_image_every=0, log_directory=str(tmp_path / "logs"))
    return DatasetTab(host), request


EMBEDDING_PARAMS = ["id_task", "embedding_name", "learn_rate", "batch_size", "gradient_step", "data_root",
                    "log_directory", "training_width", "training_height", "varsize", "steps", "clip_grad_mode",
                    "clip_grad_value", "shuffle_tags", "tag_drop_out", "latent_sampling_method", "use_weight",
                    "create_image_every", "save_embedding_every", "template_filename",
                    "save_image_with_stored_embedding", "preview_from_txt2img", "preview_prompt",
                    "preview_negative_prompt", "preview_steps", "preview_sampler_name", "preview_cfg_scale",
                    "preview_seed", "preview_width", "preview_height"]
INTS = ("batch_size", "gradient_step", "steps", "create_image_every", "training_width", "training_height")


# --- registration ------------------------------------------------------------------------------------------------

def test_the_script_registers_the_settings_section_and_the_tab(webui):
    from modules import script_callbacks, shared, errors

    script_callbacks.ui_settings_callback()
    labels = {k: v for k, v in shared.opts.data_labels.items() if k.startswith("sd_dataset_")}
    assert not errors.reported
    assert {"sd_dataset_root", "sd_dataset_api_rate", "sd_dataset_e621_username", "sd_dataset_e621_login",
            "sd_dataset_danbooru_login", "sd_dataset_caption"} <= set(labels)
    assert all(v.section == ("sd_dataset", "Dataset") and v.category_id == "training" for v in labels.values())
    assert not [k for k in labels if k.endswith("_api_key")]
    assert not [k for k, v in labels.items() if (v.component_args or {}).get("type") == "password"]
    status = labels["sd_dataset_e621_login"]
    assert isinstance(status, shared.OptionHTML) and status.do_not_save and "sd_dataset_e621_login" not in shared.opts.data
    assert "not set" in status.default and "Dataset tab's Login fields" in status.default
    assert str(package(webui).login_file()) in status.default
    assert "user id" in labels["sd_dataset_gelbooru_username"].label

    tabs = script_callbacks.ui_tabs_callback()  # after sys.path was restored: the lazy imports must still work
    assert not errors.reported, errors.reported
    assert [(type(t[0]), t[1], t[2]) for t in tabs] == [(gr.Blocks, "Dataset", "sd_dataset")]


def test_the_host_reads_the_settings_and_falls_back_to_the_environment(webui, monkeypatch, tmp_path):
    from modules import script_callbacks, shared

    from sd_dataset.http import Credentials

    script_callbacks.ui_settings_callback()
    webui_mod = package(webui)
    shared.opts.sd_dataset_e621_username = "alice"
    shared.opts.sd_dataset_danbooru_username = "bob"
    shared.opts.sd_dataset_api_rate = 0.5
    monkeypatch.setenv("DANBOORU_API_KEY", "from-env")
    host = webui_mod.webui_host()
    assert host.logins.path == tmp_path / "webui" / ".sd_dataset" / "logins.json"
    host.logins.put("E621", Credentials(None, "s3cret"))
    assert host.credentials("e621", "E621") == Credentials("alice", "s3cret")  # the key stored, the name a setting
    assert host.credentials("danbooru", "DANBOORU") == Credentials("bob", "from-env")
    host.logins.put("E621", Credentials("carol", "hers"))
    assert host.credentials("e621", "E621") == Credentials("carol", "hers")  # a remembered login goes whole
    assert "s3cret" not in repr(host.credentials("e621", "E621"))
    assert "s3cret" not in json.dumps(stub_api_options())
    assert host.api_rate == 0.5
    assert host.templates_dir == Path(shared.cmd_opts.textual_inversion_templates_dir)
    assert host.datasets_root == tmp_path / "webui" / "datasets"
    assert host.trainer is not None and host.caption_defaults["caption"] == "txt"


TAG_LISTS = {  # tag-autocomplete's tags/ folder, in its formats (name,type,count,"aliases"; translations are 2 columns)
    "danbooru.csv": 'red_ball,0,6000,"round_ball"\nhighres,5,5000,"high_res"\nsome_artist,1,50,\n',
    "e621.csv": 'mammal,5,3000,"mammals"\nhi_res,7,2800,"highres"\nsome_artist,1,50,\n',
    "danbooru_e621_merged.csv": 'red_ball,0,6000,\nhighres,5,5000,\nanthro,7,3000,\nmammal,12,2500,\n',
    "e621_sfw.csv": 'mammal,5,3000,\n',
    "derpibooru.csv": 'safe,9,2000,\n',  # another site's numbering: no model vocabulary here
    "extra-quality-tags.csv": 'masterpiece,5,1,\n',
    "EnglishDictionary.csv": 'apple,0\n',
}


def install_tag_autocomplete(webui, folder_name="a1111-sd-webui-tagcomplete", helper=True) -> Path:
    folder = webui.parent / folder_name
    (folder / "scripts").mkdir(parents=True)
    if helper:
        (folder / "scripts" / "tag_autocomplete_helper.py").write_text("# tag-autocomplete's settings and lists\n")
    (folder / "tags").mkdir()
    for name, text in TAG_LISTS.items():
        (folder / "tags" / name).write_text(text, encoding="utf-8")
    return folder


def test_tag_autocompletes_lists_are_offered_with_their_numbering(webui):
    from modules import extensions, script_callbacks, shared

    from sd_dataset.tags import load_vocabulary

    tags = install_tag_autocomplete(webui, "tagcomplete") / "tags"  # found by its own script, whatever its name
    install_tag_autocomplete(webui, "lookalike", helper=False)  # a tags/ folder alone is not tag-autocomplete
    extensions.list_extensions()  # the web UI lists its extensions at start
    host = package(webui).webui_host()
    found = [(v.path, v.numbering) for v in host.vocabularies]
    assert found == [(tags / "danbooru.csv", "danbooru"), (tags / "danbooru_e621_merged.csv", "merged"),
                     (tags / "e621.csv", "e621"), (tags / "e621_sfw.csv", "e621")]
    for path, numbering in found:
        assert load_vocabulary(path).numbering == numbering  # what the tab shows is how the file is read
    (blocks, _, _), = script_callbacks.ui_tabs_callback()
    field = next(b for b in blocks.blocks.values() if getattr(b, "elem_id", None) == "sdds_vocab")
    assert isinstance(field, gr.Dropdown)
    choices = [c[0] if isinstance(c, (tuple, list)) else c for c in field.choices]  # gradio 4: (name, value)
    assert choices == [str(path) for path, _ in found]

    shared.opts.disabled_extensions = ["tagcomplete"]  # disabled in the Extensions tab: nothing offered
    extensions.list_extensions()
    assert package(webui).webui_host().vocabularies == []


def stub_api_options() -> dict:
    import stub_control

    return stub_control.api_options()


OLD_SETTINGS = {"samples_save": True, "sd_dataset_e621_username": "alice", "sd_dataset_e621_api_key": "old-s3cret",
                "sd_dataset_danbooru_api_key": "", "sd_dataset_gelbooru_api_key": "gel-s3cret"}


@pytest.mark.parametrize("webui", [OLD_SETTINGS], indirect=True)
def test_a_key_typed_into_the_old_settings_moves_to_the_login_store(webui, tmp_path):
    from modules import errors, script_callbacks, shared

    from sd_dataset.http import Credentials
    from sd_dataset.logins import LoginStore

    webui_mod = package(webui)
    store = LoginStore(webui_mod.login_file())
    assert store.get("E621") == Credentials(None, "old-s3cret") and store.get("GELBOORU").api_key == "gel-s3cret"
    assert not store.has_key("DANBOORU")  # an empty old setting is dropped, not stored
    assert os.stat(store.path).st_mode & 0o777 == 0o600
    config = json.loads(Path(shared.config_filename).read_text(encoding="utf-8"))
    assert config == {"samples_save": True, "sd_dataset_e621_username": "alice"}  # the rest kept as it was
    assert not [k for k in shared.opts.data if k.endswith("_api_key")]

    script_callbacks.ui_settings_callback()
    served = json.dumps(stub_api_options())
    assert "s3cret" not in served and "_api_key" not in served and "alice" in served
    assert "remembered in" in shared.opts.data_labels["sd_dataset_e621_login"].default
    assert webui_mod.webui_host().credentials("e621", "E621") == Credentials("alice", "old-s3cret")
    assert not errors.reported and "s3cret" not in Path(shared.config_filename).read_text(encoding="utf-8")


@pytest.mark.parametrize("webui", [OLD_SETTINGS], indirect=True)
def test_a_key_that_cannot_be_moved_stays_in_config_json_but_is_not_served(webui, tmp_path):
    from modules import errors, script_callbacks, shared

    webui_mod = package(webui)
    assert not errors.reported  # the first load moved the keys; bring them back into a web UI whose store is unread
    webui_mod.login_file().write_text("{not json", encoding="utf-8")
    Path(shared.config_filename).write_text(json.dumps(OLD_SETTINGS), encoding="utf-8")
    shared.opts.load(shared.config_filename)
    webui_mod.register()
    [report] = errors.reported
    assert str(webui_mod.login_file()) in report and "not valid JSON" in report and "s3cret" not in report
    assert "old-s3cret" in Path(shared.config_filename).read_text(encoding="utf-8")  # kept for the next try
    script_callbacks.ui_settings_callback()
    assert "s3cret" not in json.dumps(stub_api_options())


@pytest.mark.parametrize("webui", [OLD_SETTINGS], indirect=True)
def test_with_frozen_settings_the_old_keys_leave_the_api_and_the_fix_is_told(webui, monkeypatch):
    from modules import errors, shared

    webui_mod = package(webui)
    Path(shared.config_filename).write_text(json.dumps(OLD_SETTINGS), encoding="utf-8")
    shared.opts.load(shared.config_filename)
    monkeypatch.setattr(shared.cmd_opts, "freeze_settings", True)
    webui_mod.register()
    [report] = errors.reported
    assert "delete the lines sd_dataset_e621_api_key, sd_dataset_danbooru_api_key, sd_dataset_gelbooru_api_key" in report
    assert "s3cret" not in report and "s3cret" not in json.dumps(stub_api_options())


def test_gradio_serves_the_web_ui_folder_but_not_the_login_folder(webui, tmp_path):
    """gradio's /file= serves the web UI's folder (its working folder, and its data folder, the default
    --gradio-allowed-path): gradio 3.41.2 except paths with a part that starts with a dot, where the logins live;
    gradio 4 dot paths too, so the extension's app_started puts the login folder on gradio's blocked paths."""
    import httpx
    from modules import shared

    from sd_dataset.http import Credentials
    from ui.conftest import free_port

    webui_mod = package(webui)
    webui_mod.webui_host().logins.put("E621", Credentials("alice", "s3cret"))
    with gr.Blocks() as blocks:
        gr.Markdown("the web UI")
    port = free_port()
    app, _, _ = blocks.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
                              allowed_paths=[shared.data_path])
    webui_mod.on_app_started(blocks, app)
    try:
        Path(shared.config_filename).write_text("{}", encoding="utf-8")
        served = httpx.get(f"http://127.0.0.1:{port}/file={shared.config_filename}")
        refused = httpx.get(f"http://127.0.0.1:{port}/file={webui_mod.login_file()}")
    finally:
        blocks.close()
    assert served.status_code == 200 and served.text == "{}"
    assert refused.status_code == 403 and "s3cret" not in refused.text


# --- training ------------------------------------------------------------------------------------------------------

def test_train_creates_and_trains_an_embedding_with_the_real_parameters(webui, tmp_path):
    import stub_control
    from modules import sd_hijack
    from fake_trainer import read_state
    from sd_dataset.host import CreateOptions

    tab, request = tab_and_request(webui, tmp_path)
    text = train_to_end(tab, request, CreateOptions(init_text="red panda", vectors_per_token=2.0)).text()
    assert "trained the embedding panda from step 0 to 12" in text, text

    (args, kwargs), = stub_control.called("create_embedding")
    assert args == ("panda", 2, False) and kwargs == {"init_text": "red panda"}
    assert type(args[1]) is int
    (_, call), = stub_control.called("train_embedding")
    assert list(call) == EMBEDDING_PARAMS
    assert call["id_task"].startswith("task(") and call["id_task"].endswith(")")
    assert call["embedding_name"] == "panda" and call["learn_rate"] == "0.005:6, 0.001"
    assert call["template_filename"] == "panda.txt" and call["data_root"] == request.data_root
    assert call["save_embedding_every"] == 4 and type(call["save_embedding_every"]) is int
    assert all(type(call[k]) is int for k in INTS), {k: type(call[k]) for k in INTS}
    assert sd_hijack.optimization_calls == ["undo", "apply"]
    assert read_state(Path(webui.parent.parent) / "embeddings" / "panda.pt")["step"] == 12
    assert sd_hijack.model_hijack.embedding_db.word_embeddings["panda"].step == 12


def test_train_creates_and_trains_a_hypernetwork_with_the_real_parameters(webui, tmp_path):
    import stub_control
    from modules import shared
    from fake_trainer import read_state
    from sd_dataset.host import CreateOptions

    tab, request = tab_and_request(webui, tmp_path, kind="hypernetwork", name="pandanet", learn_rate="1e-5")
    options = CreateOptions(layer_structure="1, 2, 1", activation="swish", layer_norm=True, dropout=True)
    text = train_to_end(tab, request, options).text()
    assert "trained the hypernetwork pandanet from step 0 to 12" in text, text

    (args, kwargs), = stub_control.called("create_hypernetwork")
    assert args == ("pandanet", ["768", "320", "640", "1280"], False)
    assert kwargs == {"layer_structure": "1, 2, 1", "activation_func": "swish", "weight_init": "Normal",
                      "add_layer_norm": True, "use_dropout": True, "dropout_structure": "0, 0.05, 0.1"}
    (_, call), = stub_control.called("train_hypernetwork")
    expected = [p for p in EMBEDDING_PARAMS if p != "save_image_with_stored_embedding"]
    expected = [{"embedding_name": "hypernetwork_name", "save_embedding_every": "save_hypernetwork_every"}.get(p, p)
                for p in expected]
    assert list(call) == expected
    assert all(type(call[k]) is int for k in INTS + ("save_hypernetwork_every",))
    assert read_state(shared.hypernetworks["pandanet"])["step"] == 12


def test_an_embedding_trains_without_the_hypernetwork_trained_before_it(webui, tmp_path):
    """The web UI's hypernetwork trainer leaves its network applied to every forward pass; the tab takes it off for
    the next training and puts back what the user had applied."""
    import stub_control
    from modules import shared
    from sd_dataset.host import CreateOptions

    applied_by_user = object()
    shared.loaded_hypernetworks = [applied_by_user]
    tab, request = tab_and_request(webui, tmp_path, kind="hypernetwork", name="pandanet", learn_rate="1e-5")
    assert "trained the hypernetwork" in train_to_end(tab, request, CreateOptions()).text()
    assert shared.loaded_hypernetworks == [applied_by_user]
    embedding = dataclasses.replace(request, kind="embedding", name="panda", learn_rate="0.005")
    assert "trained the embedding" in train_to_end(tab, embedding, CreateOptions()).text()
    assert stub_control.called("hypernetworks_applied") == [((), {})]
    assert shared.loaded_hypernetworks == [applied_by_user]


def test_an_embedding_the_web_ui_cannot_load_after_creating_it_is_one_sentence(webui, tmp_path, monkeypatch):
    """Seen in a real 1.10.1 on a newer torch: the file it saves has a part its own loader refuses."""
    from modules.textual_inversion import textual_inversion
    from sd_dataset.host import CreateOptions

    create = textual_inversion.create_embedding

    def create_unloadable(*args, **kwargs):
        filename = create(*args, **kwargs)
        Path(filename).write_bytes(b"PK\x03\x04 not what the loader reads")
        return filename

    monkeypatch.setattr(textual_inversion, "create_embedding", create_unloadable)
    tab, request = tab_and_request(webui, tmp_path)
    message = failure(train_to_end(tab, request, CreateOptions()))
    assert message.startswith("The web UI wrote ") and "panda.pt but cannot load it" in message


def test_a_silent_failure_in_the_trainer_is_an_error_sentence(webui, tmp_path):
    import stub_control
    from sd_dataset.host import CreateOptions

    tab, request = tab_and_request(webui, tmp_path)
    tab.host.trainer.create("embedding", "panda", CreateOptions())
    stub_control.trainers["embedding"].fail_at_step = 1  # logs "Error training embedding", returns at 0 steps
    message = failure(train_to_end(tab, request))
    assert message.startswith("The web UI's trainer stopped at step 0 without training") and message.endswith(".")
    assert "\n" not in message


def test_a_failure_later_in_the_run_is_an_error_too(webui, tmp_path):
    import stub_control
    from sd_dataset.host import CreateOptions

    tab, request = tab_and_request(webui, tmp_path)
    tab.host.trainer.create("embedding", "panda", CreateOptions())
    stub_control.trainers["embedding"].fail_at_step = 7
    message = failure(train_to_end(tab, request))
    assert "did not save" in message or "before step 12" in message


def test_the_web_uis_own_refusal_comes_back_as_a_sentence(webui, tmp_path):
    from sd_dataset.host import CreateOptions

    tab, request = tab_and_request(webui, tmp_path)
    trainer = tab.host.trainer
    trainer.create("embedding", "panda", CreateOptions())
    request.data_root = str(tmp_path / "missing")
    with pytest.raises(Exception) as info:
        trainer.train(request, __import__("sd_dataset.progress").progress.Progress())
    assert str(info.value) == ("The web UI refused to train the embedding (AssertionError: Dataset directory doesn't "
                               "exist); fix that and start again.")


def test_interrupt_stops_the_run_through_the_web_uis_state(webui, tmp_path):
    import stub_control
    from modules import shared
    from fake_trainer import read_state

    tab, request = tab_and_request(webui, tmp_path, steps=400, learn_rate="0.005")
    pause = stub_control.pause_at(5)
    run = tab.start_training(request, _create())
    assert pause.reached.wait(20)
    assert "Interrupt pressed" in tab.runs.interrupt()
    wait_until(lambda: shared.state.interrupted)  # the tab passed it on to the web UI, whose trainer is ours now
    pause.resume.set()
    view = wait_for_end(tab, run.id)
    step = read_state(Path(shared.cmd_opts.embeddings_dir) / "panda.pt")["step"]
    assert step == 5
    assert view.state == "interrupted" and f"interrupted at step {step}" in view.text(), view.text()
    assert shared.state.interrupted is False and shared.state.job == ""  # the wrapper cleaned up


def _webui_own_training(request):
    """The web UI's own Train tab training ``request`` in a thread: its wrapper, queue and task id, not the tab's."""
    from modules import call_queue
    from modules.textual_inversion import ui as ti_ui

    kwargs = dataclasses.replace(request, steps=int(request.steps)).webui_kwargs()
    args = [kwargs[name] for name in EMBEDDING_PARAMS[1:]]
    out = {}
    job = threading.Thread(target=lambda: out.update(result=call_queue.wrap_gradio_gpu_call(
        ti_ui.train_embedding, extra_outputs=[None])("task(its-own-train-tab)", *args)))
    job.start()
    return job, out


def _queued_behind(tab, request, own_steps=8, pause_step=4):
    """The web UI's own job trains ``request``'s embedding to ``own_steps`` and holds at ``pause_step``; the tab's
    run of it waits in the queue behind that job."""
    from modules import progress as tasks
    from sd_dataset.host import CreateOptions

    import stub_control

    tab.host.trainer.create("embedding", request.name, CreateOptions())
    tab.host.trainer.use_template(request.template_file)  # as the web UI's Train tab lists its templates
    pause = stub_control.pause_at(pause_step)
    job, out = _webui_own_training(dataclasses.replace(request, steps=own_steps))
    assert pause.reached.wait(20)
    run = tab.start_training(request, None)
    wait_until(lambda: len(tasks.pending_tasks) == 1)  # the tab's call waits for the queue lock
    return pause, job, out, run


def test_a_run_queued_behind_another_job_reports_the_steps_it_trained(webui, tmp_path):
    """Progress follows the tab's own call only, and its report starts where the file was when its turn came."""
    from modules import shared

    tab, request = tab_and_request(webui, tmp_path, steps=10, learn_rate="0.005")
    pause, job, out, run = _queued_behind(tab, request)
    time.sleep(3 * package(webui).POLL_SECONDS)  # time for the glue to look at the web UI's state, which is not ours
    waiting = tab.runs.latest()
    assert shared.state.job == "train-embedding" and shared.state.job_no == 4  # the other job's progress...
    assert waiting.running and waiting.done == 0 and waiting.total is None  # ... is not the tab's
    assert waiting.headline().endswith(": waiting for the web UI's queue"), waiting.headline()
    pause.resume.set()
    job.join(20)
    view = wait_for_end(tab, run.id)
    assert "trained the embedding panda from step 8 to 10" in view.text(), view.text()
    assert (view.done, view.total) == (2, 2)


def test_interrupt_while_queued_stops_only_the_tabs_run(webui, tmp_path):
    from modules import shared

    tab, request = tab_and_request(webui, tmp_path, steps=10, learn_rate="0.005")
    pause, job, out, run = _queued_behind(tab, request)
    tab.runs.interrupt()
    time.sleep(3 * package(webui).POLL_SECONDS)  # time for the glue to look at the web UI's state, which is not ours
    assert shared.state.interrupted is False  # the web UI's own job goes on
    pause.resume.set()
    job.join(20)
    assert "Training finished at 8 steps" in out["result"][0]
    view = wait_for_end(tab, run.id)
    assert view.state == "interrupted" and "interrupted at step 8" in view.text(), view.text()


def test_a_run_whose_every_loss_is_nan_says_so(webui, tmp_path):
    import stub_control
    from modules import shared

    shared.opts.training_write_csv_every = 1
    stub_control.settings.curve = lambda step, rate: float("nan")
    tab, request = tab_and_request(webui, tmp_path)
    message = failure(train_to_end(tab, request, _create()))
    assert message.startswith("The web UI's trainer ran the embedding panda from step 0 to 12, but every loss it "
                              "logged (12) is NaN or infinite, so "), message
    assert "panda.pt learned nothing usable" in message


def test_a_run_with_some_nan_losses_warns(webui, tmp_path):
    import stub_control
    from modules import shared

    shared.opts.training_write_csv_every = 2
    stub_control.settings.curve = lambda step, rate: float("inf") if step >= 7 else 0.1
    tab, request = tab_and_request(webui, tmp_path)
    view = train_to_end(tab, request, _create())
    trained, warning = view.text().splitlines()[-2:]
    assert view.state == "finished" and trained.startswith("trained the embedding panda from step 0 to 12")
    assert warning.startswith("warning: 3 of the 6 losses logged are NaN or infinite, the first at step 8: "), warning


def test_create_runs_inside_the_web_uis_queue_lock(webui, tmp_path):
    import stub_control

    for kind, name in (("embedding", "panda"), ("hypernetwork", "pandanet")):
        tab, request = tab_and_request(webui, tmp_path / kind, kind=kind, name=name, learn_rate="1e-5")
        assert "trained the" in train_to_end(tab, request, _create()).text()
    assert stub_control.called("queue_lock_held") == [((True,), {}), ((True,), {})]


def test_an_unexpected_exception_in_a_run_is_one_sentence_and_a_traceback_in_the_console(webui, tmp_path,
                                                                                        monkeypatch, caplog):
    """Seen in a real web UI: Train while it loads another checkpoint."""
    from modules.textual_inversion import textual_inversion

    def reloading(*args, **kwargs):
        raise AttributeError("'NoneType' object has no attribute 'cond_stage_model'")

    monkeypatch.setattr(textual_inversion, "create_embedding", reloading)
    tab, request = tab_and_request(webui, tmp_path)
    with caplog.at_level("ERROR"):
        message = failure(train_to_end(tab, request, _create()))
    assert message == ("Training stopped on an unexpected error (AttributeError: 'NoneType' object has no attribute "
                       "'cond_stage_model'); the console shows where it happened: try again, and if it happens again, "
                       "report it with what the console shows.")
    assert any(r.exc_info and r.exc_info[0] is AttributeError for r in caplog.records)


def _create():
    from sd_dataset.host import CreateOptions

    return CreateOptions()


def test_existing_name_is_a_sentence_unless_overwriting(webui, tmp_path):
    from dataclasses import replace

    from sd_dataset.errors import DatasetError

    tab, request = tab_and_request(webui, tmp_path)
    tab.host.trainer.create("embedding", "panda", _create())
    with pytest.raises(DatasetError) as info:
        tab.host.trainer.create("embedding", "panda", _create())
    assert str(info.value) == ('An embedding named "panda" already exists; untick "Create new" to train it, tick '
                               '"Overwrite an existing one", or choose another name.')
    assert tab.host.trainer.create("embedding", "panda", replace(_create(), overwrite=True)).startswith(
        "created embedding panda")


def test_an_sdxl_model_blocks_training_with_one_sentence(webui, tmp_path):
    import stub_control
    from modules import shared

    tab, request = tab_and_request(webui, tmp_path)
    shared.sd_model.is_sdxl = True
    text = train_to_end(tab, request, _create()).text()
    assert "SDXL" in text and "training not started" in text
    assert not stub_control.called("train_embedding") and not stub_control.called("create_embedding")


def test_the_check_names_the_checkpoint_training_will_use(webui, tmp_path):
    import stub_control

    tab, request = tab_and_request(webui, tmp_path)
    lines = tab.check(request, creating=True)
    assert (f"note: Training uses the checkpoint loaded now, {stub_control.CHECKPOINT_TITLE}; to train against "
            "another, choose it in the web UI's checkpoint list first.") in lines, lines


def test_forge_without_trainers_says_so_in_the_train_section(webui, tmp_path, monkeypatch):
    import types
    from modules.hypernetworks import hypernetwork, ui as hn_ui
    from modules.textual_inversion import textual_inversion, ui as ti_ui

    for module, name in ((textual_inversion, "train_embedding"), (ti_ui, "train_embedding"),
                         (hypernetwork, "train_hypernetwork"), (hypernetwork, "create_hypernetwork"),
                         (hn_ui, "train_hypernetwork")):
        monkeypatch.delattr(module, name)
    monkeypatch.setitem(sys.modules, "modules_forge", types.ModuleType("modules_forge"))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "modules_forge" else None)
    tab, request = tab_and_request(webui, tmp_path)
    host = tab.host
    assert host.trainer is None and host.name == "Forge"
    assert host.no_training_reason.startswith("This Forge has no built-in textual-inversion or hypernetwork trainer")
    text = train_to_end(tab, request, _create()).text()
    assert host.no_training_reason in text and "it would pass" in text and '"learn_rate": "0.005:6, 0.001"' in text
    from sd_dataset.ui import build_ui

    blocks = build_ui(host)
    shown = [b.value for b in blocks.blocks.values() if isinstance(b, gr.Markdown)]
    assert host.no_training_reason in shown


def test_a_template_outside_the_templates_folder_is_copied_in_and_listed(webui, tmp_path):
    from modules.textual_inversion import textual_inversion

    tab, _ = tab_and_request(webui, tmp_path)
    outside = tmp_path / "mine.txt"
    outside.write_text("[name], [filewords]\n", encoding="utf-8")
    tab.host.trainer.use_template(outside)
    assert "mine.txt" in textual_inversion.textual_inversion_templates
    other = tmp_path / "other" / "mine.txt"
    other.parent.mkdir()
    other.write_text("something else\n", encoding="utf-8")
    with pytest.raises(Exception, match="already has a different mine.txt"):
        tab.host.trainer.use_template(other)


def _train_values(inputs, tmp_path) -> list:
    """What the browser sends with Train or Check for the embedding panda, from the components' own defaults."""
    import stub_control

    values = []
    for component in inputs:
        value = component.value
        if value is None and isinstance(component, gr.Textbox):
            value = ""  # what the browser sends for an empty box (gradio 4 keeps None as the initial value)
        value = {"Train": "embedding", "Name": "panda", "Create new": True, "Steps": 8,
                 "Learning-rate schedule": "0.005", "Save a copy every N steps": 4,
                 "Preview image every N steps": 0}.get(getattr(component, "label", None), value)
        values.append(value)
    # the data folder and template come from the augment output and template boxes
    values[_index_of(inputs, "sdds_aug_out")] = str(dataset(tmp_path))
    template()
    tpl_dir = _index_of(inputs, "sdds_tpl_dir")
    values[tpl_dir] = str(Path(stub_control.trainers["embedding"].root) / "textual_inversion_templates")
    values[_index_of(inputs, "sdds_tpl_name")] = "panda"
    return values


TAB_PAGE = SimpleNamespace(headers={"origin": "http://127.0.0.1:7860", "host": "127.0.0.1:7860"})  # the tab's own


def test_the_train_button_runs_through_the_blocks(webui, tmp_path):
    """The Blocks' train function, as the browser would call it (create + train)."""
    import stub_control
    from modules import script_callbacks

    (blocks, _, _), = script_callbacks.ui_tabs_callback()
    function, inputs = _api_function(blocks, "train")
    values = _train_values(inputs, tmp_path)
    *_, (result, chart, previews, decisions) = function(TAB_PAGE, *values, progress=_NoBar())  # the last one
    assert "trained the embedding panda from step 0 to 8" in result, result
    assert (chart, previews, decisions) == (None, [], "")  # not supervised
    assert len(stub_control.called("train_embedding")) == 1


def test_an_unexpected_exception_in_a_step_is_one_sentence_in_its_log(webui, tmp_path, monkeypatch, caplog):
    from modules import script_callbacks

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    def reloading(*args, **kwargs):  # Check while the web UI loads another checkpoint
        raise AttributeError("'NoneType' object has no attribute 'cond_stage_model'")

    monkeypatch.setattr(package(webui, "ui"), "make_template", full_disk)
    monkeypatch.setattr(package(webui).WebuiTrainer, "host_state", reloading)
    (blocks, _, _), = script_callbacks.ui_tabs_callback()
    write, _ = _api_function(blocks, "template")
    check, inputs = _api_function(blocks, "check")
    with caplog.at_level("ERROR"):
        written = write(TAB_PAGE, str(tmp_path / "templates"), "panda", "subject", "", "", False, False)
        checked = check(TAB_PAGE, *_train_values(inputs, tmp_path))
    assert written == ("error: Template stopped on an unexpected error (OSError: [Errno 28] No space left on device); "
                       "the console shows where it happened: try again, and if it happens again, report it with what "
                       "the console shows.")
    assert checked.startswith("error: Check stopped on an unexpected error (AttributeError: 'NoneType' object has no "
                              "attribute 'cond_stage_model'); the console shows where it happened"), checked
    assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [OSError, AttributeError]  # tracebacks: console


def _api_function(blocks, api_name):
    """The function and input components behind ``api_name``, under gradio 3 and 4."""
    if hasattr(blocks, "dependencies"):  # gradio 3: dependencies (dicts) and fns in the same order
        index = next(i for i, d in enumerate(blocks.dependencies) if d.get("api_name") == api_name)
        return blocks.fns[index].fn, [blocks.blocks[i] for i in blocks.dependencies[index]["inputs"]]
    block_fn = next(f for f in blocks.fns.values() if f.api_name == api_name)  # gradio 4
    return block_fn.fn, list(block_fn.inputs)


def _event_functions(blocks) -> list[tuple[list[str], list[int], str, object]]:
    """Each event of ``blocks`` as (its trigger names, its output ids, its api name, its function), under gradio 3
    and 4."""
    if hasattr(blocks, "dependencies"):  # gradio 3: dependencies (dicts) and fns in the same order
        return [([d["trigger"]], list(d["outputs"]), d.get("api_name"), f.fn)
                for d, f in zip(blocks.dependencies, blocks.fns)]
    return [([event for _, event in f.targets], [o._id for o in f.outputs], f.api_name, f.fn)
            for f in blocks.fns.values()]


class _NoBar:
    def __call__(self, *args, **kwargs):
        pass


def _index_of(components, elem_id):
    for index, component in enumerate(components):
        if getattr(component, "elem_id", None) == elem_id:
            return index
    raise AssertionError(f"no input {elem_id}")


# --- supervised ------------------------------------------------------------------------------------------------------

def test_a_supervised_run_reverts_to_the_best_copy_and_steps_the_rate_down(webui, tmp_path):
    import stub_control
    from modules import sd_hijack, shared
    from fake_trainer import read_state
    from sd_dataset.progress import Progress
    from sd_dataset.supervisor import REVERT, Knobs

    def curve(step, rate):  # fries above step 40 at the full rate, fine at half of it
        return 10.0 if step > 40 and rate > 0.003 else 1.0 / (1 + step / 20)

    stub_control.settings.curve = curve
    tab, request = tab_and_request(webui, tmp_path, steps=80, learn_rate="0.005")
    trainer = tab.host.trainer
    trainer.create("embedding", "panda", _create())
    seen = []

    def on_decision(decision, result):
        if decision.action == REVERT:
            current = read_state(trainer.current_file("embedding", "panda"))
            seen.append((decision.restore_step, current["step"],
                         sd_hijack.model_hijack.embedding_db.word_embeddings["panda"].step, current["weight"]))

    summary = trainer.supervise(request, Knobs(segment=20, patience=0), Progress(), on_decision)
    assert [(d.step, d.action) for d in summary.decisions][:3] == [(20, "continue"), (40, "continue"), (60, REVERT)]
    assert seen and seen[0][:3] == (40, 40, 40)  # the file and the loaded embedding are back at step 40
    assert seen[0][3] == pytest.approx(40 * 0.005)  # ... with the weights of step 40
    assert summary.final_step == 80 and summary.decisions[-1].action == "stop"
    rates = [c.learn_rate for c in stub_control.trainers["embedding"].calls]
    assert rates[:3] == ["0.005", "0.005", "0.005"] and rates[3] == "0.0025"
    assert shared.opts.training_write_csv_every == 500  # restored after the run
    assert summary.journal.exists()


def test_the_tab_shows_a_supervised_run_live(webui, tmp_path):
    import stub_control
    from sd_dataset.lossplot import REVERT as REVERT_COLOUR
    from sd_dataset.supervisor import Knobs
    from sd_dataset.ui import follow_run

    stub_control.settings.curve = lambda step, rate: 10.0 if step > 40 and rate > 0.003 else 1.0 / (1 + step / 20)
    tab, request = tab_and_request(webui, tmp_path, steps=80, learn_rate="0.005")
    pause = stub_control.pause_at(50)  # in the third segment, after two decisions
    run = tab.start_training(request, _create(), Knobs(segment=20, patience=0))
    assert pause.reached.wait(20)
    log, chart, previews, decisions = next(follow_run(tab.runs, run.id))
    assert log.startswith("running: the embedding panda") and "of 80 steps" in log.splitlines()[0], log
    assert [line.split()[4] for line in decisions.splitlines()] == ["continue", "continue"]  # live, as they come
    assert chart is not None and REVERT_COLOUR not in {colour for _, colour in chart.getcolors(maxcolors=1 << 24)}
    pause.resume.set()
    *_, (log, chart, previews, decisions) = follow_run(tab.runs, run.id)
    assert log.startswith("finished: the embedding panda")
    assert "supervised run finished at step 80" in log and "supervisor.jsonl" in log
    assert "training_write_csv_every" not in log  # the supervisor sets the loss-log interval itself
    assert [line.split()[4] for line in decisions.splitlines()][:3] == ["continue", "continue",
                                                                       "revert_and_step_down"]
    assert REVERT_COLOUR in {colour for _, colour in chart.getcolors(maxcolors=1 << 24)}  # the revert is marked


# --- in the browser: a run outlives its page ------------------------------------------------------------------------

def _train_page(browser, url, data_root=None, steps=10, supervised_segment=None):
    """A page of the tab, its Train section open and filled for the embedding panda (when ``data_root`` is given)."""
    from ui.test_tab_browser import fill

    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    page.goto(url)
    page.get_by_text("5 · Train").click()
    page.wait_for_selector("#sdds_train_log textarea")
    if data_root is not None:
        page.get_by_text("4 · Template").click()
        fill(page, "sdds_tpl_name", "panda")
        fill(page, "sdds_aug_out", str(data_root))
        fill(page, "sdds_train_name", "panda")
        fill(page, "sdds_learn_rate", "0.005")
        fill(page, "sdds_steps", str(steps))
        if supervised_segment:
            page.locator("#sdds_supervised input").check()
            box = page.get_by_label("Segment (steps)", exact=True)
            box.fill(str(supervised_segment))
            box.press("Tab")
    return page


def test_a_reload_during_training_shows_the_run_and_then_its_result(webui, tmp_path, launch_tab, browser):
    import stub_control
    from ui.test_tab_browser import log_text, wait_for_log

    url = launch_tab(package(webui).webui_host())
    data_root, _ = dataset(tmp_path), template()
    pause = stub_control.pause_at(3)
    page = _train_page(browser, url, data_root)
    page.click("#sdds_train_run")
    assert pause.reached.wait(60)
    wait_for_log(page, "sdds_train_log", "^running: the embedding panda, run started at [0-9:]+: 3 of 10 steps")

    page.reload()  # the page forgets everything; the run goes on
    page.get_by_text("5 · Train").click()
    text = wait_for_log(page, "sdds_train_log", ": 3 of 10 steps")
    assert "created embedding panda" in text  # the log so far
    other = _train_page(browser, url)  # a second window finds it too
    wait_for_log(other, "sdds_train_log", ": 3 of 10 steps")

    other.click("#sdds_train_run")  # a second Train while it runs
    wait_for_log(page, "sdds_train_log", "another Train was refused: one run at a time")
    wait_for_log(other, "sdds_train_log", "another Train was refused: one run at a time")
    pause.resume.set()
    for window in (page, other):
        text = wait_for_log(window, "sdds_train_log", "trained the embedding panda from step 0 to 10")
        assert text.startswith("finished: the embedding panda"), text
    assert len(stub_control.called("train_embedding")) == 1  # the refused Train trained nothing
    assert log_text(page, "sdds_train_log") == log_text(other, "sdds_train_log")
    page.close()
    other.close()


def test_a_reload_during_a_supervised_run_shows_its_chart_and_decisions(webui, tmp_path, launch_tab, browser):
    import stub_control
    from ui.test_tab_browser import wait_for_log

    url = launch_tab(package(webui).webui_host())
    data_root, _ = dataset(tmp_path), template()
    pause = stub_control.pause_at(12)  # in the third segment of 5 steps
    page = _train_page(browser, url, data_root, steps=20, supervised_segment=5)
    page.click("#sdds_train_run")
    assert pause.reached.wait(60)
    page.reload()
    page.get_by_text("5 · Train").click()
    decisions = wait_for_log(page, "sdds_decisions", "step 10 .*continue")
    assert [line.split()[1] for line in decisions.splitlines()] == ["5", "10"]
    page.wait_for_selector("#sdds_loss_chart img")
    assert "running: the embedding panda" in wait_for_log(page, "sdds_train_log", "of 20 steps")
    pause.resume.set()
    text = wait_for_log(page, "sdds_train_log", "supervised run finished at step 20")
    assert text.startswith("finished: the embedding panda"), text
    assert wait_for_log(page, "sdds_decisions", "step 20 ").splitlines()[-1].split()[4] == "stop"
    page.close()


# --- install.py ------------------------------------------------------------------------------------------------------

def test_install_asks_pip_only_for_what_the_web_ui_lacks(monkeypatch):
    import runpy

    monkeypatch.syspath_prepend(str(STUB))
    import launch

    launch.pip_calls.clear()
    monkeypatch.setattr(launch, "is_installed", lambda dist: dist != "tenacity")
    # too old an ImageHash is replaced too, and a pyrate-limiter without the sync timeout the rate wait uses
    versions = {"pyrate-limiter": "4.0.2", "filelock": "3.12.0", "ImageHash": "3.9"}
    monkeypatch.setattr(importlib.metadata, "version", lambda dist: versions[dist], raising=True)
    runpy.run_path(str(REPO / "install.py"), run_name="__main__")
    assert [c[0] for c in launch.pip_calls] == ['install "pyrate-limiter>=4.1,<5"', 'install "tenacity>=8.2"',
                                                'install "ImageHash>=4.3"']


def test_augment_uses_threads_where_processes_would_be_spawned(webui, monkeypatch, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    webui_mod = package(webui)
    monkeypatch.setattr(webui_mod.multiprocessing, "get_start_method", lambda allow_none=False: "fork")
    assert webui_mod.webui_host().augment_executor is None  # forked workers inherit the imported package
    monkeypatch.setattr(webui_mod.multiprocessing, "get_start_method", lambda allow_none=False: "spawn")
    host = webui_mod.webui_host()
    pool = host.augment_executor(2)
    assert isinstance(pool, ThreadPoolExecutor)
    pool.shutdown()
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        Image.new("RGB", (300, 280), (i * 50, 90, 10)).save(src / f"a{i}.png")
    from sd_dataset.ui import DatasetTab
    from ui.step_args import augment_args

    log = DatasetTab(host).augment(*augment_args(src, tmp_path / "out")).text()
    assert log.startswith("3 images: 3 augmented"), log
    assert len(list((tmp_path / "out").glob("*.png"))) == 6


def test_tagging_with_file_name_captions_leaves_the_web_uis_settings_alone(webui, tmp_path):
    """The trainer reads a file name as its caption with the default settings (webui-api.md §8); the join string
    matters only with a word regex, so the tab changes no setting and says what the trainer does instead."""
    from modules import shared
    from PIL import Image

    from sd_dataset.ui import DatasetTab
    from ui.step_args import tag_args

    src = tmp_path / "src"
    src.mkdir()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(src / "picture.png")
    host = package(webui).webui_host()
    before = dict(shared.opts.data)
    log = DatasetTab(host).tag(*tag_args(src, tmp_path / "names", caption="filename", trigger="red_panda")).text()
    assert "leading digits and dashes" in log and "Filename word regex" in log, log
    assert shared.opts.data == before and not Path(shared.config_filename).exists()
    assert len(list((tmp_path / "names").glob("*.png"))) == 1


# --- the local tagger: the web UI's DeepDanbooru --------------------------------------------------------------------

def colour_pictures(folder: Path) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    Image.new("RGB", (64, 64), (255, 0, 0)).save(folder / "red.png")
    Image.new("RGB", (64, 48), (0, 0, 255)).save(folder / "blue.png")
    return folder


def test_the_web_uis_deepdanbooru_tags_what_no_site_knows(webui, tmp_path):
    import stub_control
    from ui.step_args import tag_args

    from modules import shared

    webui_mod = package(webui)
    ui_mod = package(webui, "ui")
    host = webui_mod.webui_host()
    assert list(host.taggers) == [webui_mod.DEEPBOORU]
    tab = ui_mod.DatasetTab(host)
    src, out = colour_pictures(tmp_path / "own"), tmp_path / "tagged"
    text = tab.tag(*tag_args(src, out, tagger=webui_mod.DEEPBOORU)).text()
    # its text, spaced and escaped by the web UI's settings, read back into tags; no rating: it drops rating: tags
    assert (out / "red.txt").read_text() == "^_^, bow \\(weapon\\), red background"
    assert (out / "blue.txt").read_text() == "blue background"
    assert "posts from: tagger 2" in text and "tagged by the local tagger DeepDanbooru 2" in text
    sidecar = json.loads((out / "red.json").read_text())
    assert sidecar["found"]["by"] == "tagger" and sidecar["found"]["model"] == "DeepDanbooru"
    assert sidecar["found"]["thresholds"] == {"unknown": 0.5}
    # one batch: the model moved to the GPU once, every picture tagged inside the web UI's queue lock, no ranks
    assert [name for name, _, _ in stub_control.calls if name.startswith("deepbooru.")] == \
        ["deepbooru.load", "deepbooru.start", "deepbooru.tag_multi", "deepbooru.tag_multi", "deepbooru.stop"]
    assert all(kwargs == {"force_disable_ranks": True, "device": "cuda", "queue_locked": True}
               for _, kwargs in stub_control.called("deepbooru.tag_multi"))
    stub_control.calls.clear()
    # a rerun reads its tag sidecars; its own threshold changed, it tags again
    tab.tag(*tag_args(src, out, tagger=webui_mod.DEEPBOORU))
    assert stub_control.called("deepbooru.tag_multi") == []
    shared.opts.interrogate_deepbooru_score_threshold = 0.58
    shared.opts.deepbooru_use_spaces, shared.opts.deepbooru_escape = False, False
    tab.tag(*tag_args(src, out, tagger=webui_mod.DEEPBOORU))
    assert (out / "red.txt").read_text() == "bow \\(weapon\\), red background"
    assert len(stub_control.called("deepbooru.tag_multi")) == 2


def test_deepdanbooru_without_its_model_is_one_sentence_and_the_next_press_loads_it_again(webui, tmp_path):
    """The web UI's DeepDanbooru downloads its model on first use; its loader swallows a failed download and then
    fails on the missing file (IndexError in 1.10.1), having made the network without weights.  The tab says so in
    one sentence, and a later press loads again instead of tagging with that network (seen in a real 1.10.1
    offline)."""
    import stub_control
    from ui.step_args import tag_args

    webui_mod, ui_mod = package(webui), package(webui, "ui")
    tab = ui_mod.DatasetTab(webui_mod.webui_host())
    src, out = colour_pictures(tmp_path / "own"), tmp_path / "tagged"
    folder = tmp_path / "webui" / "models" / "torch_deepdanbooru"
    step = ui_mod._sentence(tab.tag, "Tag")
    stub_control.settings.deepbooru_download = False
    refused = (f"error: The web UI's DeepDanbooru has no model: {folder} holds no .pt file and the web UI could not "
               'download model-resnet_custom_v3.pt into it (its console says why); put that file there, or give a '
               'WD14 or Z3D model folder in "Local tagger".')
    assert step(*tag_args(src, out, tagger=webui_mod.DEEPBOORU)) == refused
    assert step(*tag_args(src, out, tagger=webui_mod.DEEPBOORU)) == refused
    assert stub_control.called("deepbooru.tag_multi") == [] and not list(out.glob("*.txt"))
    stub_control.settings.deepbooru_download = True
    text = step(*tag_args(src, out, tagger=webui_mod.DEEPBOORU))
    assert "posts from: tagger 2" in text, text
    assert (out / "red.txt").read_text() == "^_^, bow \\(weapon\\), red background"


def test_deepdanbooru_takes_no_thresholds_of_ours(webui, tmp_path):
    from ui.step_args import tag_args

    webui_mod, ui_mod = package(webui), package(webui, "ui")
    tab = ui_mod.DatasetTab(webui_mod.webui_host())
    src = colour_pictures(tmp_path / "own")
    said = ui_mod._sentence(tab.tag, "Tag")(*tag_args(src, tmp_path / "out", tagger=webui_mod.DEEPBOORU,
                                                      tagger_thresholds="general=0.4"))
    assert said == ('error: DeepDanbooru (the web UI\'s interrogator) keeps the tags its own settings\' threshold '
                    'passes; leave "Tagger thresholds" empty, or choose a model folder.')
