import math

from sd_dataset.lossfile import LossRow, rolling_median
from sd_dataset.lossplot import BACKGROUND, REVERT, SMOOTH, plot_loss


def rows(values, every=10):
    return [LossRow(step=(i + 1) * every, loss=v) for i, v in enumerate(values)]


def colour_columns(image, colour):
    pixels = image.load()
    return sorted({x for x in range(image.width) for y in range(image.height) if pixels[x, y] == colour})


def test_smoothed_curve_and_revert_lines_are_drawn():
    data = rows([1.0 - i * 0.01 for i in range(50)] + [2.0] * 10)
    image = plot_loss(data, rolling_median(data, 50), reverts=[500])
    revert_columns = colour_columns(image, REVERT)
    # the revert line sits at step 500 of 10…600, between the axes
    expected = 64 + (500 - 10) / (600 - 10) * (720 - 16 - 64)
    assert revert_columns and all(abs(x - expected) <= 2 for x in revert_columns)
    smooth_columns = colour_columns(image, SMOOTH)
    assert len(smooth_columns) > 500  # the curve spans the chart


def test_nan_values_are_left_out_and_an_empty_log_says_so():
    data = rows([1.0, math.nan, 0.9, math.inf, 0.8])
    image = plot_loss(data, [None] * len(data))
    assert colour_columns(image, SMOOTH) == []
    empty = plot_loss([], [])
    assert empty.getpixel((200, 100)) == BACKGROUND
    assert len(empty.getcolors(maxcolors=1 << 24)) > 1  # axes and the note are drawn
