"""The tab in real Gradio, driven by real headless Chromium against the tests' local booru server."""

import hashlib
import os
import re
import time
from pathlib import Path


from booru_server import ServerPost, image_bytes
from sd_dataset.boorus.base import Post
from sd_dataset.fetch import write_sidecar
from sd_dataset.host import FoundVocabulary, Host
from sd_dataset.images import list_images

ARTIFACTS = Path(os.environ.get("SDDS_ARTIFACTS", Path(__file__).resolve().parents[1] / "artifacts"))


def fill(page, elem_id: str, text: str) -> None:
    box = page.locator(f"#{elem_id} textarea, #{elem_id} input").first
    box.fill(text)
    box.dispatch_event("input")
    box.press("Tab")


def log_text(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id} textarea").first.input_value()


def wait_for_log(page, elem_id: str, pattern: str, timeout: float = 60_000) -> str:
    page.wait_for_function(
        """([id, pattern]) => {
            const box = document.querySelector(`#${id} textarea`);
            return box && new RegExp(pattern).test(box.value);
        }""",
        arg=[elem_id, pattern], timeout=timeout)
    return log_text(page, elem_id)


def searching(browser, url: str, name: str, site: str):
    """A new page of the tab with a dataset named and the test site's red_ball search typed in."""
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    page.goto(url)
    page.wait_for_selector("#sdds_name")
    fill(page, "sdds_name", name)
    page.wait_for_function("() => document.querySelector('#sdds_fetch_out textarea').value.endsWith('downloaded')")
    fill(page, "sdds_base_url", site)
    fill(page, "sdds_query", "red_ball")
    return page


def test_fetch_augment_preview_in_the_browser(booru_server, tmp_path, launch_tab, browser):
    posts = [ServerPost(id=1000 + i, data=image_bytes(i, size=(320, 400)),
                        tags={"artist": ["some_artist"], "general": ["red_ball", "blue_sky"]}) for i in range(12)]
    server = booru_server(posts)
    url = launch_tab(Host(datasets_root=tmp_path, api_rate=2.0))
    page = searching(browser, url, "red_ball", server.url)
    fill(page, "sdds_limit", "10")
    page.click("#sdds_fetch_run")
    text = wait_for_log(page, "sdds_fetch_log", "considered \\d+ posts")
    assert "downloaded 10" in text, text
    downloaded = tmp_path / "red_ball" / "downloaded"
    assert len(list(downloaded.glob("*.png"))) == 10

    page.click("#sdds_tag_run")
    text = wait_for_log(page, "sdds_tag_log", "images: tagged")
    assert text.startswith("10 images: tagged 10"), text
    page.wait_for_function("() => document.querySelectorAll('#sdds_gallery img').length >= 10", timeout=30_000)

    page.click("#sdds_aug_run")
    text = wait_for_log(page, "sdds_aug_log", "\\w")
    train = tmp_path / "red_ball" / "train"
    outputs = list_images(train)
    assert len(outputs) == 20, text  # flip is on by default: every image and its mirror
    assert {p.stem for p in outputs} == {f"{p.md5}" for p in posts[2:]} | {f"{p.md5}-flip" for p in posts[2:]}
    for output in outputs:
        assert output.with_suffix(".txt").read_text() == "safe content, by some artist, blue sky, red ball"
    page.wait_for_function("() => document.querySelectorAll('#sdds_gallery img').length >= 20", timeout=30_000)
    assert re.search(r"page 1 of 1 \(20 images\)", page.locator("#sdds_page_label").first.inner_text())
    assert page.locator("#sdds_traits textarea").input_value() == "blue sky, red ball"  # not rating, not artist
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "tab.png"), full_page=True)
    page.close()

    # Another visit: naming the dataset is enough to see its training set again.
    page = browser.new_page(viewport={"width": 1400, "height": 2200})
    page.goto(url)
    page.wait_for_selector("#sdds_name")
    assert page.locator("#sdds_gallery img").count() == 0
    fill(page, "sdds_name", "red_ball")
    page.wait_for_function("() => document.querySelectorAll('#sdds_gallery img').length >= 20", timeout=30_000)
    assert re.search(r"page 1 of 1 \(20 images\)", page.locator("#sdds_page_label").first.inner_text())
    page.close()


def test_schedule_explanation_updates_as_you_type(tmp_path, launch_tab, browser):
    url = launch_tab(Host(datasets_root=tmp_path))
    page = browser.new_page()
    page.goto(url)
    page.get_by_text("5 · Train").click()
    fill(page, "sdds_learn_rate", "0.005:100, 1e-3:1000, 1e-5")
    fill(page, "sdds_steps", "3000")
    text = wait_for_log(page, "sdds_explanation", "steps 1001–3000")
    assert text.splitlines() == ["steps 1–100: 0.005", "steps 101–1000: 0.001", "steps 1001–3000: 1e-05"]
    fill(page, "sdds_learn_rate", "0.005:abc")
    text = wait_for_log(page, "sdds_explanation", "error")
    assert text == 'error: "0.005:abc": step must be a whole number, such as 1000.'
    page.close()


def wait_for_file(path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} was not written"
        time.sleep(0.1)


def choose(page, elem_id: str, text: str) -> None:
    """Pick the option of a dropdown that shows ``text`` (gradio 3 and 4 both list options as li elements)."""
    page.locator(f"#{elem_id} input").first.click()
    page.locator(f"#{elem_id} li", has_text=text).first.click()


def shown(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id} input").first.input_value()


def test_the_vocabulary_field_offers_found_lists_and_takes_a_typed_path(tmp_path, launch_tab, browser):
    tags = tmp_path / "tagcomplete" / "tags"
    tags.mkdir(parents=True)
    merged = tags / "danbooru_e621_merged.csv"  # tag-autocomplete's format, the merged list's numbers
    merged.write_text("red_ball,0,600,\nhighres,5,500,\nanthro,7,300,\ne6_artist,8,20,\n", encoding="utf-8")
    danbooru = tags / "danbooru.csv"
    danbooru.write_text("red_ball,0,600,\nhighres,5,500,\n", encoding="utf-8")
    mine = tmp_path / "mine.csv"  # the guide's tag,count: no categories
    mine.write_text("red_ball,12\nhighres,10\n", encoding="utf-8")
    src = tmp_path / "src"
    src.mkdir()
    data = image_bytes(5)
    post = Post(id=5, md5=hashlib.md5(data).hexdigest(), file_url=None, ext="png", rating="s", site="rule34",
                tags={"general": ["highres", "anthro", "e6_artist", "red_ball"]})  # a flat-tag site's post
    (src / post.filename).write_bytes(data)
    write_sidecar(src, post)
    host = Host(datasets_root=tmp_path, vocabularies=[FoundVocabulary(danbooru, "danbooru"),
                                                      FoundVocabulary(merged, "merged")])
    url = launch_tab(host)
    page = browser.new_page(viewport={"width": 1400, "height": 2200})
    page.goto(url)
    page.wait_for_selector("#sdds_vocab")
    fill(page, "sdds_tag_src", str(src))
    assert shown(page, "sdds_numbering") == "auto"

    choose(page, "sdds_vocab", merged.name)
    page.wait_for_function("() => document.querySelector('#sdds_numbering input').value === 'merged'")
    fill(page, "sdds_tag_out", str(tmp_path / "merged-out"))
    page.click("#sdds_tag_run")
    wait_for_log(page, "sdds_tag_log", "images: tagged")
    caption = tmp_path / "merged-out" / f"{post.md5}.txt"
    assert caption.read_text(encoding="utf-8") == "safe content, by e6 artist, red ball, anthro"

    choose(page, "sdds_vocab", danbooru.name)
    page.wait_for_function("() => document.querySelector('#sdds_numbering input').value === 'danbooru'")

    box = page.locator("#sdds_vocab input").first
    box.fill("")
    box.press_sequentially(str(mine))  # a path of one's own, typed key by key as a user does
    box.press("Tab")
    page.wait_for_function("() => document.querySelector('#sdds_numbering input').value === 'auto'")
    fill(page, "sdds_tag_out", str(tmp_path / "mine-out"))
    page.click("#sdds_tag_run")
    caption = tmp_path / "mine-out" / f"{post.md5}.txt"
    wait_for_file(caption)  # the log reads as after the first run, so the file says when this one is done
    assert caption.read_text(encoding="utf-8") == "safe content, red ball, highres"


def test_run_all_gets_past_a_post_that_never_matches_its_md5_to_ready(booru_server, tmp_path, launch_tab, browser):
    posts = [ServerPost(id=300 + i, data=image_bytes(i, size=(320, 400)), tags={"general": ["red_ball", "blue_sky"]})
             for i in range(3)]
    broken = ServerPost(id=399, data=image_bytes(99, size=(320, 400)), md5="0" * 32)  # its bytes never match
    server = booru_server(posts + [broken])
    url = launch_tab(Host(datasets_root=tmp_path, api_rate=2.0))
    page = searching(browser, url, "red_ball", server.url)
    page.get_by_text("4 · Template").click()
    page.click("#sdds_tpl_run")  # a log from before Run all, which Run all must replace
    wait_for_log(page, "sdds_tpl_log", "^wrote ")

    page.click("#sdds_run_all")
    text = wait_for_log(page, "sdds_all_log", r"\n(not )?ready: [^\n]*$", timeout=120_000)
    lines = text.splitlines()
    assert lines[-1] == "ready: nothing found that would stop or spoil training", text
    assert lines[0].startswith("fetch: considered 4 posts: downloaded 3") and "failed 1" in lines[0], text
    assert (f"  failed 1, the downloaded bytes did not match the post's md5 in 2 tries; a rerun tries again: "
            f"{broken.md5}.png") in lines, text
    assert any(line.startswith("tag: 3 images: tagged 3") for line in lines), text
    assert any(line.startswith("augment: 3 images: 3 augmented") for line in lines), text
    template = next(i for i, line in enumerate(lines) if line.startswith("template: "))
    assert lines[template].endswith("dataset-subject.txt already holds this template (1 line)"), text
    assert lines[template + 1] == "  uploaded on e621, [name], [filewords]"  # the template's line, not cut off
    # each step's own log shows what it did in this run
    assert log_text(page, "sdds_fetch_log").startswith("considered 4 posts: downloaded 3")
    assert log_text(page, "sdds_fetch_log").endswith("finished with failures (listed above)")
    assert log_text(page, "sdds_tag_log").startswith("3 images: tagged 3")
    assert log_text(page, "sdds_aug_log").startswith("3 images: 3 augmented")
    assert "already holds this template" in log_text(page, "sdds_tpl_log")
    assert len(list_images(tmp_path / "red_ball" / "train")) == 6
    # the verdict is Check's own
    page.get_by_text("5 · Train").click()
    page.click("#sdds_check_run")
    assert wait_for_log(page, "sdds_train_log", "ready").splitlines()[-1] == lines[-1]
    page.close()


def test_run_all_on_small_images_ends_with_the_checks_verdict_and_what_to_change(booru_server, tmp_path, launch_tab,
                                                                                 browser):
    posts = [ServerPost(id=500 + i, data=image_bytes(i, size=(100, 120))) for i in range(4)]
    server = booru_server(posts)
    url = launch_tab(Host(datasets_root=tmp_path, api_rate=2.0))
    page = searching(browser, url, "tiny", server.url)
    page.click("#sdds_run_all")
    text = wait_for_log(page, "sdds_all_log", r"\n(not )?ready: [^\n]*$", timeout=120_000)
    lines = text.splitlines()
    change = ('All 4 images are under the 256-pixel minimum, so nothing was written; lower "Min short side" (0 keeps '
              "every image).")
    assert f"stopped: {change}" in lines, text
    assert any(line.startswith("  skipped 4, too small (the short side is under 256 pixels): ") and "(100x120)" in line
               for line in lines), text
    assert any(line.startswith("template: wrote ") for line in lines), text  # it needs nothing augment makes
    assert any("has no image the trainer can read" in line for line in lines), text
    assert lines[-1] == "not ready: 1 error, 0 warnings; fix the errors before training", text
    assert log_text(page, "sdds_aug_log").endswith(f"error: {change}")
    assert "--" not in text

    # doing what it says makes a training set
    fill(page, "sdds_min_size", "0")
    page.click("#sdds_run_all")
    text = wait_for_log(page, "sdds_all_log", r"augment: 4 images: 4 augmented[\s\S]*\n(not )?ready: [^\n]*$",
                        timeout=120_000)
    assert text.splitlines()[-1] == "ready: nothing found that would stop or spoil training", text
    # then the preview shows the training set (and no event is left running when the page closes)
    page.wait_for_function("() => document.querySelectorAll('#sdds_gallery img').length >= 8", timeout=30_000)
    page.close()


def test_the_train_section_explains_the_schedule_and_guards_a_hypernetwork(tmp_path, launch_tab, browser):
    url = launch_tab(Host(datasets_root=tmp_path))
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    page.goto(url)
    page.get_by_text("5 · Train").click()
    assert wait_for_log(page, "sdds_explanation", "steps") == "steps 1\u20133000: 0.005"  # before any edit
    page.reload()
    page.get_by_text("5 · Train").click()
    assert wait_for_log(page, "sdds_explanation", "steps") == "steps 1\u20133000: 0.005"

    def preset():
        return page.locator("#sdds_preset input").first.input_value()

    # a hypernetwork gets the hypernetwork preset, and its schedule explained
    page.locator("#sdds_kind label", has_text="hypernetwork").click()
    text = wait_for_log(page, "sdds_explanation", "5e-06")
    assert text.splitlines()[0] == "steps 1\u20131000: 5e-06"
    assert preset() == "hypernetwork-guide"
    assert page.locator("#sdds_learn_rate textarea").input_value().startswith("0.000005:1000,")
    # a hand edit is a schedule of one's own
    fill(page, "sdds_learn_rate", "0.000004:2000, 0.000001")
    page.wait_for_function("() => document.querySelector('#sdds_preset input').value === 'custom'")
    assert wait_for_log(page, "sdds_explanation", "2001").splitlines() == ["steps 1\u20132000: 4e-06",
                                                                         "steps 2001\u20133000: 1e-06"]
    # the embedding's rate (its preset's schedule) is Check's error for a hypernetwork
    fill(page, "sdds_learn_rate", "0.005")
    page.wait_for_function("() => document.querySelector('#sdds_preset input').value === 'embedding-default'")
    page.click("#sdds_check_run")
    text = wait_for_log(page, "sdds_train_log", "not ready")
    assert ('error: The schedule trains the hypernetwork at 0.005 ("0.005"), above 0.0001, where hypernetworks fry '
            '(the guide starts at 5e-06); choose the "hypernetwork-guide" preset or lower the rate.') in text
    # back to an embedding: its own preset again
    page.locator("#sdds_kind label", has_text="embedding").click()
    page.wait_for_function("() => document.querySelector('#sdds_preset input').value === 'embedding-default'")
    assert wait_for_log(page, "sdds_explanation", "^steps 1\u20133000: 0.005$") == "steps 1\u20133000: 0.005"
    # the template's kind proposes its own name, so writing another kind is not refused for the old one's file
    page.get_by_text("4 · Template").click()
    page.locator("#sdds_tpl_kind label", has_text="style").click()
    page.wait_for_function("() => document.querySelector('#sdds_tpl_name textarea').value === 'dataset-style'")
    page.close()


def test_path_boxes_show_all_of_a_long_path_at_780_pixels(tmp_path, launch_tab, browser):
    root = tmp_path.joinpath(*["a-rather-long-folder-name"] * 5)
    root.mkdir(parents=True)
    url = launch_tab(Host(datasets_root=root, templates_dir=root / "textual_inversion_templates"))
    page = browser.new_page(viewport={"width": 780, "height": 1600})
    page.goto(url)
    page.wait_for_selector("#sdds_name")
    fill(page, "sdds_name", "red_panda")
    page.wait_for_function("() => document.querySelector('#sdds_fetch_out textarea').value.endsWith('downloaded')")
    page.get_by_text("4 · Template").click()  # its folder box was laid out while the section was closed
    page.wait_for_selector("#sdds_tpl_dir textarea", state="visible")
    boxes = page.evaluate("""() => [...document.querySelectorAll('.sdds-path textarea')].filter(t => t.value)
        .map(t => [t.closest('[id^=sdds_]').id, t.scrollHeight - t.clientHeight, t.scrollWidth - t.clientWidth])""")
    assert len(boxes) >= 8 and [box for box in boxes if box[1] > 1 or box[2] > 1] == [], boxes
    page.close()
