"""The schedule grammar against an independent replay of how the web UI reads and applies a schedule."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sd_dataset.errors import DatasetError
from sd_dataset.schedule import (PRESETS, Phase, default_preset, format_rate, parse, plan, preset, preset_of,
                                 schedule_or_preset)

EXAMPLE = "0.005:100, 1e-3:1000, 1e-5"


# --- an oracle: the web UI's behaviour replayed (A1111 1.x learn_schedule.py + the training loop) ---------

def webui_pairs(text: str, max_steps: int, cur_step: int = 0):
    """(rate, end_step) pairs as the web UI's iterator yields them; ValueError where it raises."""
    pairs = []
    for piece in text.split(","):
        if not piece.strip():
            continue
        bits = piece.split(":")
        if len(bits) != 2:
            pairs.append((float(bits[0]), max_steps))
            break
        step = int(bits[1])
        if step > cur_step:
            pairs.append((float(bits[0]), min(step, max_steps)))
            if step > max_steps:
                break
        elif step == -1:
            pairs.append((float(bits[0]), max_steps))
            break
    if not pairs:
        raise ValueError("Invalid learning rate schedule")
    return pairs


def webui_rate_per_step(text: str, max_steps: int, cur_step: int = 0):
    """{step: rate} for every step the trainer runs: it moves to the next pair once per step, stops when none is left."""
    pairs = iter(webui_pairs(text, max_steps, cur_step))
    rate, end = next(pairs)
    done = cur_step
    trained = {}
    while True:
        if done >= end:
            try:
                rate, end = next(pairs)
            except StopIteration:
                break
        done += 1
        trained[done] = rate
    return trained


def expand(phases):
    out = {}
    for phase in phases:
        for step in range(phase.first, phase.last + 1):
            assert step not in out, "phases overlap"
            out[step] = phase.rate
    return out


# --- the worked examples from webui-api.md §3 --------------------------------------------------------------

def test_worked_example_over_3000_steps():
    p = plan(EXAMPLE, 3000)
    assert [(ph.rate, ph.last) for ph in p.phases] == [(0.005, 100), (0.001, 1000), (1e-5, 3000)]
    assert p.lines() == ["steps 1\u2013100: 0.005", "steps 101\u20131000: 0.001", "steps 1001\u20133000: 1e-05"]
    assert p.warnings == ()
    assert webui_pairs(EXAMPLE, 3000) == [(0.005, 100), (0.001, 1000), (1e-5, 3000)]


def test_worked_example_over_500_steps():
    p = plan(EXAMPLE, 500)
    assert [(ph.rate, ph.last) for ph in p.phases] == [(0.005, 100), (0.001, 500)]
    assert p.lines() == ["steps 1\u2013100: 0.005", "steps 101\u2013500: 0.001"]
    assert not p.ends_early and p.warnings == ()


def test_worked_example_resumed_at_200():
    p = plan(EXAMPLE, 3000, resume_from=200)
    assert [(ph.rate, ph.last) for ph in p.phases] == [(0.001, 1000), (1e-5, 3000)]
    assert p.lines() == ["steps 201\u20131000: 0.001", "steps 1001\u20133000: 1e-05"]


def test_line_form_matches_the_issue_example():
    assert plan("0.000005:1000, 0.0000025", 5000).lines()[0] == "steps 1\u20131000: 5e-06"
    assert format_rate(0.0000025) == "2.5e-06" and format_rate(0.005) == "0.005"


def test_schedule_ending_before_the_steps_warns_and_stops_there():
    p = plan("0.005:100, 1e-3:1000", 3000)
    assert p.ends_early and p.last_step == 1000
    assert len(p.warnings) == 1 and "ends at step 1000" in p.warnings[0] and "3000" in p.warnings[0]
    assert max(webui_rate_per_step("0.005:100, 1e-3:1000", 3000)) == 1000


def test_item_ending_on_the_last_step_followed_by_more_trains_one_extra_step():
    p = plan(EXAMPLE, 1000)
    assert p.lines()[-1] == "steps 1001\u20131001: 1e-05"
    assert any("1001" in w for w in p.warnings)
    assert expand(p.phases) == webui_rate_per_step(EXAMPLE, 1000)


def test_no_steps_given_shows_an_open_end():
    p = plan(PRESETS[3].schedule)
    assert p.lines()[-1] == "steps 30001\u2013end: 2.5e-07"
    assert p.phases[-1] == Phase(2.5e-07, 30001, None)


def test_whitespace_blank_items_and_minus_one_are_read_like_the_web_ui():
    text = " 0.01 : 10 ,, 0.002:-1 ,"
    p = plan(text, 50)
    assert expand(p.phases) == webui_rate_per_step(text, 50)
    assert p.lines() == ["steps 1\u201310: 0.01", "steps 11\u201350: 0.002"]


def test_steps_past_the_run_are_cut_and_end_the_schedule():
    p = plan("0.01:10, 0.002:400, 0.001", 100)
    assert p.lines() == ["steps 1\u201310: 0.01", "steps 11\u2013100: 0.002"]


def test_resume_with_every_step_passed_is_refused():
    with pytest.raises(DatasetError, match="at or before step 2000"):
        plan(EXAMPLE.rsplit(",", 1)[0], 5000, resume_from=2000)


def test_resume_past_the_run_is_refused():
    with pytest.raises(DatasetError, match="nothing to do"):
        plan(EXAMPLE, 1000, resume_from=1000)


@pytest.mark.parametrize("steps", [0, -5, 10.5, "100"])
def test_bad_step_counts_are_refused(steps):
    with pytest.raises(DatasetError):
        plan("0.005", steps)


# --- invalid input: one sentence naming the bad item -------------------------------------------------------

@pytest.mark.parametrize("text, item, words", [
    ("0.005:abc", "0.005:abc", "step must be a whole number"),
    ("0.005:100, 0.001:1e3", "0.001:1e3", "step must be a whole number"),
    ("0.005:100.0", "0.005:100.0", "step must be a whole number"),
    ("0.005:", "0.005:", "step must be a whole number"),
    ("abc:100", "abc:100", "rate must be a number"),
    (":100", ":100", "rate must be a number"),
    ("0.005 0.001", "0.005 0.001", "rate must be a number"),
    ("nan", "nan", "finite"),
    ("inf:100, 0.001", "inf:100", "finite"),
    ("0:100, 0.001", "0:100", "greater than 0"),
    ("-0.005", "-0.005", "greater than 0"),
    ("0.005:0", "0.005:0", "above 0"),
    ("0.005:-7", "0.005:-7", "above 0"),
    ("0.005:1000, 0.001:500", "0.001:500", "larger than the step before it (1000)"),
    ("0.005:1000, 0.001:1000", "0.001:1000", "larger than the step before it"),
    ("0.005, 0.001:2000", "0.001:2000", "already runs to the end"),
    ("0.005:-1, 0.001", "0.001", "already runs to the end"),
    ("0.1:2:3", "0.1:2:3", "one colon"),
    ("0.005:1,000, 0.001", "000", "thousands separators"),
    ("0.005:2,500", "500", "thousands separators"),
])
def test_invalid_items_are_named_in_one_sentence(text, item, words):
    with pytest.raises(DatasetError) as err:
        parse(text)
    message = str(err.value)
    assert message.startswith(f'"{item}": ')
    assert words in message
    assert message.endswith(".") and "\n" not in message


def test_issue_example_sentence():
    with pytest.raises(DatasetError) as err:
        parse("0.005:abc")
    assert str(err.value).startswith('"0.005:abc": step must be a whole number')


@pytest.mark.parametrize("text", ["", "   ", ",", " , ,"])
def test_empty_schedule_is_refused(text):
    with pytest.raises(DatasetError, match="empty"):
        parse(text)


# --- presets ---------------------------------------------------------------------------------------------

def test_presets_are_valid_and_explained():
    assert {p.key for p in PRESETS} == {"embedding-default", "embedding-cautious", "embedding-stepped",
                                        "hypernetwork-guide", "hypernetwork-cautious"}
    for p in PRESETS:
        assert p.why and "\n" not in p.why
        assert plan(p.schedule, 100000).last_step == 100000
    assert preset("embedding-stepped").schedule == "0.005:25000, 0.0005:75000, 0.0003"
    assert plan(preset("hypernetwork-cautious").schedule, 50000).lines()[-1] == "steps 40001\u201350000: 1e-08"
    with pytest.raises(DatasetError, match="embedding-default"):
        preset("nope")


# --- properties --------------------------------------------------------------------------------------------

rates = st.floats(min_value=1e-9, max_value=1.0, allow_nan=False, allow_infinity=False)


@st.composite
def valid_schedules(draw):
    steps = sorted(draw(st.sets(st.integers(1, 400), max_size=5)))
    tail = draw(st.sampled_from(["", "bare", "-1"]))
    if not steps and not tail:
        tail = "bare"
    pad = draw(st.sampled_from(["", " ", "  "]))
    items = [f"{pad}{draw(rates)!r}{pad}:{pad}{s}" for s in steps]
    if tail == "bare":
        items.append(repr(draw(rates)))
    elif tail == "-1":
        items.append(f"{draw(rates)!r}:-1")
    return draw(st.sampled_from([",", ", ", " ,"])).join(items)


@settings(max_examples=300, deadline=None)
@given(valid_schedules(), st.integers(1, 300), st.integers(0, 299))
def test_accepted_schedules_cover_steps_one_to_n_like_the_web_ui(text, steps, resume):
    resume = min(resume, steps - 1)
    try:
        p = plan(text, steps, resume)
    except DatasetError as err:
        assert "at or before step" in str(err)
        with pytest.raises(ValueError):
            webui_pairs(text, steps, resume)
        return
    trained = expand(p.phases)
    # step for step what the web UI trains
    assert trained == webui_rate_per_step(text, steps, resume)
    # contiguous from the resume point, positive rates
    assert sorted(trained) == list(range(resume + 1, p.last_step + 1))
    assert all(rate > 0 for rate in trained.values())
    # the run is covered to N unless the warning says it ends early (or one quirk step past it)
    if p.ends_early:
        assert any("ends at step" in w for w in p.warnings)
    else:
        assert p.last_step in (steps, steps + 1)
        assert (p.last_step == steps + 1) == any("one more step" in w for w in p.warnings)
    if parse(text).open_ended:
        assert p.last_step >= steps
    assert len(p.lines()) == len(p.phases)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789.:,-e +an", max_size=30), st.integers(1, 200))
def test_any_text_is_either_refused_with_a_sentence_or_read_like_the_web_ui(text, steps):
    try:
        schedule = parse(text)
    except DatasetError as err:
        message = str(err)
        assert message.endswith(".") and "\n" not in message
        assert message.startswith('"') or "empty" in message
        return
    p = plan(schedule, steps)
    assert expand(p.phases) == webui_rate_per_step(text, steps)
    assert all(rate > 0 for rate in expand(p.phases).values())


def test_a_schedule_names_its_preset_or_is_ones_own():
    guide = default_preset("hypernetwork")
    assert guide.key == "hypernetwork-guide" and default_preset("embedding").key == "embedding-default"
    assert preset_of(guide.schedule.replace(",", ", ")) == guide  # spaces aside
    assert preset_of("0.005:100, 0.001") is None
    assert schedule_or_preset(" embedding-stepped ") == "0.005:25000, 0.0005:75000, 0.0003"
    assert schedule_or_preset("1e-5") == "1e-5" and schedule_or_preset("nan") == "nan"  # rates stay rates
