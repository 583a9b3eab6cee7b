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


def test_fetch_augment_preview_in_the_browser(booru_server, tmp_path, launch_tab, browser):
    posts = [ServerPost(id=1000 + i, data=image_bytes(i, size=(320, 400)),
                        tags={"artist": ["some_artist"], "general": ["red_ball", "blue_sky"]}) for i in range(12)]
    server = booru_server(posts)
    url = launch_tab(Host(datasets_root=tmp_path, api_rate=2.0))
    page = browser.new_page(viewport={"width": 1400, "height": 2200})
    page.goto(url)
    page.wait_for_selector("#sdds_name")
    fill(page, "sdds_name", "red_ball")
    page.wait_for_function("() => document.querySelector('#sdds_fetch_out textarea').value.endsWith('downloaded')")
    fill(page, "sdds_base_url", server.url)
    fill(page, "sdds_query", "red_ball")
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
    page.close()
