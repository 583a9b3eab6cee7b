"""The readiness check: every finding triggered once, with real images made by Pillow."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from sd_dataset.cli import main
from sd_dataset.checks import check_readiness
from sd_dataset.training import ERROR, WARNING, HostState, TrainRequest, filename_caption, has_errors, scan_dataset


GUIDE_RATE = "0.000005"  # the guide's first hypernetwork rate


def make_image(path, size=(64, 64), color=(120, 80, 40)):
    Image.new("RGB", size, color).save(path, format="PNG")
    return path


@pytest.fixture
def dataset(tmp_path):
    """A clean dataset: three captioned PNGs of the training size and a template with [name] and [filewords]."""
    root = tmp_path / "train"
    root.mkdir()
    for i, caption in enumerate(["red square, plain", "blue square", "green square, simple"]):
        make_image(root / f"img{i}.png", size=(512, 512), color=(40 * i, 90, 200))
        (root / f"img{i}.txt").write_text(caption, encoding="utf-8")
    template = tmp_path / "subject.txt"
    template.write_text("uploaded on e621, [name], [filewords]\n", encoding="utf-8")
    return root, template


def request(dataset, **changes):
    root, template = dataset
    fields = dict(name="cube", data_root=str(root), template_file=str(template), learn_rate="0.005", steps=1000)
    fields.update(changes)
    return TrainRequest(**fields)


def codes(findings):
    return {f.code: f for f in findings}


def only(findings, code, level):
    found = codes(findings)
    assert code in found, f"{code} not reported; got {[str(f) for f in findings]}"
    finding = found[code]
    assert finding.level == level
    message = finding.message
    assert message.endswith(".") and "\n" not in message  # one sentence
    assert any(fix in message for fix in ("; ", "such as", "e.g.")), message  # ... with its fix
    return finding


def test_clean_dataset_has_no_findings(dataset):
    assert check_readiness(request(dataset)) == []
    host = HostState(model_is_sdxl=False, loaded_embeddings={"cube"}, current_step=0, training_write_csv_every=500,
                     save_training_settings_to_txt=True, lowvram=False, template_names={"subject.txt"})
    assert check_readiness(request(dataset), host) == []


# --- dataset -----------------------------------------------------------------------------------------------

def test_no_images(tmp_path, dataset):
    empty = tmp_path / "empty"
    empty.mkdir()
    finding = only(check_readiness(request(dataset, data_root=str(empty))), "no-images", ERROR)
    assert "No images have been found" in finding.message


def test_no_images_points_at_subfolders(tmp_path, dataset):
    root, _ = dataset
    finding = only(check_readiness(request(dataset, data_root=str(root.parent))), "no-images", ERROR)
    assert "subfolders such as train/" in finding.message


def test_missing_dataset_folder(tmp_path, dataset):
    only(check_readiness(request(dataset, data_root=str(tmp_path / "nope"))), "dataset-missing", ERROR)
    only(check_readiness(request(dataset, data_root="")), "no-dataset", ERROR)


def test_unreadable_images_warn_and_sidecars_are_ignored(dataset):
    root, _ = dataset
    good = (root / "img0.png").read_bytes()
    (root / "broken.png").write_bytes(good[: len(good) // 2])
    (root / "notes.json").write_text("{}", encoding="utf-8")
    (root / "empty.jpg").write_bytes(b"")
    Image.effect_noise((256, 256), 60).convert("RGB").save(root / "whole.jpg", quality=90)
    jpeg = (root / "whole.jpg").read_bytes()
    (root / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])  # an interrupted download
    (root / "padded.jpg").write_bytes(jpeg + b"\0" * 200)  # trailing bytes after the end marker still decode
    finding = only(check_readiness(request(dataset)), "unreadable-images", WARNING)
    assert "3 file(s)" in finding.message and "broken.png" in finding.message
    assert sorted(scan_dataset(root).unreadable) == ["broken.png", "cut.jpg", "empty.jpg"]
    assert len(scan_dataset(root).images) == 5


def test_only_unreadable_images_is_an_error(tmp_path, dataset):
    root = tmp_path / "bad"
    root.mkdir()
    (root / "a.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    findings = check_readiness(request(dataset, data_root=str(root)))
    only(findings, "unreadable-images", ERROR)
    only(findings, "no-images", ERROR)


def test_images_without_captions_when_the_template_uses_filewords(dataset):
    root, _ = dataset
    (root / "img1.txt").unlink()
    finding = only(check_readiness(request(dataset)), "no-caption", WARNING)
    assert '"img1.png" becomes "img1"' in finding.message


def test_missing_captions_do_not_matter_without_filewords(dataset, tmp_path):
    root, _ = dataset
    (root / "img1.txt").unlink()
    template = tmp_path / "plain.txt"
    template.write_text("a picture of [name]\n", encoding="utf-8")
    findings = check_readiness(request(dataset, template_file=str(template)))
    assert "no-caption" not in codes(findings)
    only(findings, "template-no-filewords", WARNING)


def test_filename_captions_cut_by_the_trainer(dataset):
    root, _ = dataset
    make_image(root / "3d_render of a cube.png")
    make_image(root / "00012-0-a cube.png")  # the old preprocess naming: the index is meant to go
    findings = check_readiness(request(dataset))
    finding = only(findings, "filename-caption-cut", WARNING)
    assert "1 file-name caption(s)" in finding.message
    assert '"3d_render of a cube.png" is read as "d_render of a cube"' in finding.message
    assert filename_caption("00012-0-a cube.png") == "a cube"


def test_filename_caption_cut_by_the_word_regex_option(dataset):
    root, _ = dataset
    make_image(root / "a cube (blue).png")
    host = HostState(dataset_filename_word_regex=r"[a-z]+", dataset_filename_join_string=" ")
    assert filename_caption("a cube (blue).png", host) == "a cube blue"
    assert "filename-caption-cut" not in codes(check_readiness(request(dataset), host))
    host = HostState(dataset_filename_word_regex=r"[a-c]+")
    only(check_readiness(request(dataset), host), "filename-caption-cut", WARNING)


def test_filename_that_leaves_no_caption(dataset):
    root, _ = dataset
    make_image(root / "123-45.png")
    only(check_readiness(request(dataset)), "filename-caption-cut", WARNING)


def test_empty_caption_files(dataset):
    root, _ = dataset
    (root / "img2.txt").write_text("  \n", encoding="utf-8")
    finding = only(check_readiness(request(dataset)), "empty-caption", WARNING)
    assert "img2.png" in finding.message


def test_batch_size_larger_than_the_image_count(dataset):
    finding = only(check_readiness(request(dataset, batch_size=8)), "batch-too-large", WARNING)
    assert "uses 3" in finding.message


def test_gradient_accumulation_larger_than_the_batches(dataset):
    finding = only(check_readiness(request(dataset, batch_size=2, gradient_step=4)), "gradient-too-large", WARNING)
    assert "uses 1" in finding.message


@pytest.mark.parametrize("attr", ["training_width", "training_height"])
def test_sizes_not_multiples_of_64(dataset, attr):
    finding = only(check_readiness(request(dataset, **{attr: 500})), f"size-not-64-{attr}", ERROR)
    assert "use 448 or 512" in finding.message


def test_varsize_checks_the_images_instead(dataset):
    root, _ = dataset
    assert check_readiness(request(dataset, varsize=True, training_width=500)) == []
    make_image(root / "odd.png", size=(100, 64))
    finding = only(check_readiness(request(dataset, varsize=True)), "varsize-image-size", ERROR)
    assert "odd.png" in finding.message


# --- numbers -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("attr, value", [
    ("steps", 1000.5), ("steps", "1e3"), ("steps", "abc"), ("save_every", 2.5), ("create_image_every", "ten"),
    ("batch_size", 1.5), ("gradient_step", None), ("training_width", "512px"),
])
def test_not_whole_numbers(dataset, attr, value):
    finding = only(check_readiness(request(dataset, **{attr: value})), f"not-whole-{attr}", ERROR)
    assert "must be a whole number" in finding.message


def test_whole_floats_and_digit_strings_are_accepted(dataset):
    assert check_readiness(request(dataset, steps=1000.0, batch_size="2", save_every="500")) == []
    kwargs = request(dataset, steps=1000.0).webui_kwargs()
    assert kwargs["steps"] == 1000 and isinstance(kwargs["steps"], int)
    assert kwargs["embedding_name"] == "cube" and kwargs["save_embedding_every"] == 500
    assert kwargs["template_filename"] == "subject.txt"


@pytest.mark.parametrize("attr, value", [("steps", 0), ("batch_size", 0), ("gradient_step", -1),
                                         ("save_every", -5), ("training_width", 32)])
def test_too_small_numbers(dataset, attr, value):
    only(check_readiness(request(dataset, **{attr: value})), f"too-small-{attr}", ERROR)


def test_unknown_choices(dataset):
    only(check_readiness(request(dataset, clip_grad_mode="max")), "clip-grad-mode", ERROR)
    only(check_readiness(request(dataset, latent_sampling_method="often")), "latent-sampling", ERROR)
    only(check_readiness(request(dataset, tag_drop_out=1.5)), "tag-drop-out", ERROR)
    only(check_readiness(request(dataset, kind="lora")), "kind", ERROR)
    only(check_readiness(request(dataset, name=" ")), "no-name", ERROR)


def test_save_and_preview_both_off(dataset):
    finding = only(check_readiness(request(dataset, save_every=0, create_image_every=0)), "no-log-folder", ERROR)
    assert "settings file" in finding.message
    assert check_readiness(request(dataset, save_every=0, create_image_every=0),
                           HostState(save_training_settings_to_txt=False)) == []
    assert check_readiness(request(dataset, save_every=0)) == []


# --- schedule ----------------------------------------------------------------------------------------------

def test_invalid_schedule(dataset):
    finding = only(check_readiness(request(dataset, learn_rate="0.005:abc")), "schedule-invalid", ERROR)
    assert '"0.005:abc": step must be a whole number' in finding.message


def test_schedule_ending_before_the_steps(dataset):
    finding = only(check_readiness(request(dataset, learn_rate="0.005:500", steps=1000)), "schedule-ends-early",
                   WARNING)
    assert "ends at step 500" in finding.message


def test_schedule_extra_step(dataset):
    only(check_readiness(request(dataset, learn_rate="0.005:1000, 0.001", steps=1000)), "schedule-extra-step", WARNING)


def test_schedule_all_passed_for_a_resumed_embedding(dataset):
    finding = only(check_readiness(request(dataset, learn_rate="0.005:100, 0.001:500", steps=2000),
                                   HostState(current_step=600)), "schedule-all-passed", ERROR)
    assert "step 600" in finding.message
    assert check_readiness(request(dataset, learn_rate="0.005:100, 0.001", steps=2000), HostState(current_step=600)) == []


def test_already_trained_past_the_steps(dataset):
    only(check_readiness(request(dataset, steps=1000), HostState(current_step=1000)), "already-trained", ERROR)


def test_invalid_clip_grad_schedule(dataset):
    only(check_readiness(request(dataset, clip_grad_mode="norm", clip_grad_value="x")), "clip-grad-invalid", ERROR)
    assert check_readiness(request(dataset, clip_grad_mode="disabled", clip_grad_value="x")) == []


def test_loss_log_interval_longer_than_the_run(dataset):
    finding = only(check_readiness(request(dataset, steps=300), HostState(training_write_csv_every=500)),
                   "no-loss-log", WARNING)
    assert "steps 1\u2013300" in finding.message
    assert check_readiness(request(dataset, steps=500), HostState(training_write_csv_every=500)) == []
    assert check_readiness(request(dataset, steps=300), HostState(training_write_csv_every=0)) == []
    # resumed at 520 in a 900-step run: steps 521-900 hold no multiple of 500
    only(check_readiness(request(dataset, steps=900), HostState(current_step=520, training_write_csv_every=500)),
         "no-loss-log", WARNING)


# --- template ----------------------------------------------------------------------------------------------

def test_template_missing_name_blocks_an_embedding(dataset, tmp_path):
    template = tmp_path / "no-name.txt"
    template.write_text("a photo of [filewords]\n", encoding="utf-8")
    finding = only(check_readiness(request(dataset, template_file=str(template))), "template-no-name", ERROR)
    assert "learns nothing" in finding.message
    assert check_readiness(request(dataset, template_file=str(template), kind="hypernetwork",
                                   learn_rate=GUIDE_RATE)) == []


def test_template_partial_placeholders_blank_lines_and_encoding(dataset, tmp_path):
    template = tmp_path / "mixed.txt"
    template.write_text("[name], [filewords]\n\na photo\nby [name] caf\u00e9\n", encoding="utf-8")
    findings = check_readiness(request(dataset, template_file=str(template)))
    only(findings, "template-some-no-name", WARNING)
    only(findings, "template-some-no-filewords", WARNING)
    only(findings, "template-blank", WARNING)
    only(findings, "template-encoding", WARNING)
    assert not has_errors(findings)


def test_template_missing_empty_or_not_listed(dataset, tmp_path):
    only(check_readiness(request(dataset, template_file=str(tmp_path / "gone.txt"))), "template-missing", ERROR)
    only(check_readiness(request(dataset, template_file="")), "no-template", ERROR)
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n", encoding="utf-8")
    only(check_readiness(request(dataset, template_file=str(blank))), "template-empty", ERROR)
    only(check_readiness(request(dataset), HostState(template_names={"style.txt"})), "template-not-listed", ERROR)


# --- host facts --------------------------------------------------------------------------------------------

def test_sdxl_model_loaded(dataset):
    only(check_readiness(request(dataset), HostState(model_is_sdxl=True)), "sdxl", ERROR)


def test_embedding_not_loaded(dataset):
    finding = only(check_readiness(request(dataset), HostState(loaded_embeddings={"other"})), "embedding-not-loaded",
                   ERROR)
    assert '"cube"' in finding.message


def test_hypernetwork_not_listed(dataset):
    only(check_readiness(request(dataset, kind="hypernetwork"), HostState(hypernetworks=["other"])),
         "hypernetwork-not-found", ERROR)
    assert check_readiness(request(dataset, kind="hypernetwork", learn_rate=GUIDE_RATE),
                           HostState(hypernetworks=["cube"])) == []


def test_lowvram(dataset):
    only(check_readiness(request(dataset), HostState(lowvram=True)), "lowvram", ERROR)


def test_host_checks_skipped_without_host(dataset):
    assert check_readiness(request(dataset), None) == []
    assert check_readiness(request(dataset), HostState()) == []


def test_trainer_reads_every_entry_non_recursively(dataset):
    root, _ = dataset
    (root / "nested").mkdir()
    make_image(root / "nested" / "deep.png")
    make_image(root / "no_extension")
    scan = scan_dataset(root)
    assert "no_extension" in scan.images and "deep.png" not in scan.images and scan.subfolders == ["nested"]


# --- CLI ---------------------------------------------------------------------------------------------------

def test_cli_check_exit_codes(dataset, capsys):
    root, template = dataset
    args = ["check", str(root), "--template", str(template), "--schedule", "0.005", "--steps", "1000"]
    assert main(args) == 0
    assert "ready" in capsys.readouterr().out
    assert main(args + ["--batch-size", "9"]) == 0
    out = capsys.readouterr().out
    assert "warning: Batch size 9" in out and out.splitlines()[-1] == "ready: 1 warning above, none of them stops training"
    assert main(["check", str(root), "--template", str(template), "--schedule", "0.005:x", "--steps", "10.5"]) == 2
    out = capsys.readouterr().out
    assert out.count("error: ") == 2 and "Max steps must be a whole number" in out
    assert out.splitlines()[-1] == "not ready: 2 errors, 0 warnings; fix the errors before training"
    assert main(args + ["--resume-from", "1000"]) == 2
    assert main(args + ["--csv-every", "5000"]) == 0
    assert "no loss is ever written" in capsys.readouterr().out
    assert main(["check", str(root), "--template", str(template), "--schedule", "embedding-stepped",
                 "--steps", "1000"]) == 0


def test_cli_schedule(capsys):
    assert main(["schedule", "0.005:100, 1e-3:1000, 1e-5", "--steps", "500"]) == 0
    assert capsys.readouterr().out.splitlines() == ["steps 1\u2013100: 0.005", "steps 101\u2013500: 0.001"]
    assert main(["schedule", "0.005:100, 1e-3:1000", "--steps", "3000"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["steps 1\u2013100: 0.005", "steps 101\u20131000: 0.001"]
    assert captured.err.startswith("warning: The schedule ends at step 1000")
    assert main(["schedule", "0.005:100, 1e-3:1000, 1e-5", "--steps", "3000", "--resume-from", "200"]) == 0
    assert capsys.readouterr().out.splitlines() == ["steps 201\u20131000: 0.001", "steps 1001\u20133000: 1e-05"]
    assert main(["schedule", "0.005:abc"]) == 2
    assert capsys.readouterr().err.strip() == 'error: "0.005:abc": step must be a whole number, such as 1000.'
    assert main(["schedule"]) == 0
    assert "embedding-stepped" in capsys.readouterr().out
    assert main(["schedule", "hypernetwork-guide", "--steps", "40000"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "steps 30001\u201340000: 2.5e-07"
    # a misspelled preset is an unknown preset, not a bad rate
    unknown = ('error: Unknown schedule preset "hypernetwork-guid"; known: embedding-default, embedding-cautious, '
               "embedding-stepped, hypernetwork-guide, hypernetwork-cautious.")
    assert main(["schedule", "hypernetwork-guid"]) == 2
    assert capsys.readouterr().err.strip() == unknown
    assert main(["check", ".", "--template", "t.txt", "--schedule", "hypernetwork-guid", "--steps", "10"]) == 2
    assert capsys.readouterr().err.strip() == unknown
    with pytest.raises(SystemExit) as exit_info:
        main(["schedule", "0.005", "--steps", "ten"])
    assert exit_info.value.code == 2


def test_unreadable_dataset_folder(dataset, monkeypatch):
    def refuse(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(os, "listdir", refuse)
    finding = only(check_readiness(request(dataset)), "dataset-unreadable", ERROR)
    assert "permission denied" in finding.message


# --- the guide's pitfalls -----------------------------------------------------------------------------------

@pytest.mark.parametrize("schedule", ["0.005", "0.000005:1000, 0.0002"])
def test_a_hypernetwork_at_an_embeddings_rate_is_an_error(dataset, schedule):
    finding = only(check_readiness(request(dataset, kind="hypernetwork", learn_rate=schedule)),
                   "hypernetwork-rate-too-high", ERROR)
    assert "fry" in finding.message and "hypernetwork-guide" in finding.message


def test_a_hypernetwork_rate_above_the_guides_range_is_a_warning(dataset):
    findings = check_readiness(request(dataset, kind="hypernetwork", learn_rate="0.00005:500, 0.000005"))
    assert "hypernetwork-rate-too-high" not in codes(findings)
    assert '"0.00005:500"' in only(findings, "hypernetwork-rate-high", WARNING).message
    assert check_readiness(request(dataset, kind="hypernetwork", learn_rate="0.00001")) == []  # 1e-5 itself is fine


def test_an_embedding_rate_above_0_05_is_a_warning(dataset):
    only(check_readiness(request(dataset, learn_rate="0.1:100, 0.005")), "embedding-rate-high", WARNING)
    assert check_readiness(request(dataset, learn_rate="0.05")) == []
    assert "hypernetwork-rate-too-high" not in codes(check_readiness(request(dataset, learn_rate="0.005")))


def test_a_hypernetwork_named_like_an_embedding_trains_with_it(dataset, tmp_path):
    host = HostState(loaded_embeddings={"cube"}, hypernetworks={"cube"})
    finding = only(check_readiness(request(dataset, kind="hypernetwork", learn_rate=GUIDE_RATE), host),
                   "hypernetwork-named-like-embedding", WARNING)
    assert '"cube"' in finding.message
    without_name = tmp_path / "no-name.txt"
    without_name.write_text("a photo, [filewords]\n", encoding="utf-8")  # no [name]: the word never reaches a prompt
    assert check_readiness(request(dataset, kind="hypernetwork", learn_rate=GUIDE_RATE,
                                   template_file=str(without_name)), host) == []
    assert check_readiness(request(dataset), host) == []  # an embedding of its own name is the normal case


@pytest.mark.parametrize("prompt, named", [("a photo of [name]", "[name]"), ("cube, [filewords]", "[filewords]")])
def test_placeholders_in_the_preview_prompt_are_a_warning(dataset, prompt, named):
    finding = only(check_readiness(request(dataset, preview_from_txt2img=True, preview_prompt=prompt)),
                   "preview-placeholders", WARNING)
    assert named in finding.message
    # the preview prompt is used only when the previews come from txt2img
    assert check_readiness(request(dataset, preview_from_txt2img=False, preview_prompt=prompt)) == []
    assert check_readiness(request(dataset, preview_from_txt2img=True, preview_prompt="a photo of cube")) == []


def test_images_the_trainer_enlarges_more_than_twice_are_counted(dataset):
    root, _ = dataset
    make_image(root / "small.png", size=(200, 240))
    make_image(root / "half.png", size=(256, 256))  # exactly 2x: fine
    finding = only(check_readiness(request(dataset)), "images-upscaled", WARNING)
    assert finding.message.startswith("1 of 5 image(s)") and "small.png" in finding.message
    # at a training size of 256 nothing is enlarged twice
    assert "images-upscaled" not in codes(check_readiness(request(dataset, training_width=256, training_height=256)))
    assert "images-upscaled" not in codes(check_readiness(request(dataset, varsize=True)))


def test_images_far_from_the_training_shape_are_counted(dataset):
    root, _ = dataset
    make_image(root / "wide.png", size=(1024, 512))
    make_image(root / "tall.png", size=(512, 1024))
    make_image(root / "portrait.png", size=(512, 640))  # 4:5 is close enough to square
    finding = only(check_readiness(request(dataset)), "images-stretched", WARNING)
    assert finding.message.startswith("2 of 6 image(s)") and "tall.png, wide.png" in finding.message
    # trained at 1024x512 the wide one fits; the square ones are now the odd ones out
    finding = only(check_readiness(request(dataset, training_width=1024)), "images-stretched", WARNING)
    assert "wide.png" not in finding.message and "img0.png" in finding.message


def test_the_check_names_the_checkpoint_that_will_be_trained(dataset):
    findings = check_readiness(request(dataset), HostState(checkpoint="v1-5-pruned-emaonly.safetensors [6ce0161689]"))
    finding = only(findings, "checkpoint", "note")
    assert "v1-5-pruned-emaonly.safetensors [6ce0161689]" in finding.message
    assert not has_errors(findings) and [f.level for f in findings] == ["note"]
