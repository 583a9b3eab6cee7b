"""A small loss chart as an image: the raw loss, its smoothed curve and the steps where a run was reverted.

Drawn with Pillow, so the chart looks the same under gradio 3 and 4 and needs
no plotting library.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

from PIL import Image, ImageDraw

from .lossfile import LossRow

RAW, SMOOTH, REVERT, AXIS, BACKGROUND = (190, 190, 200), (30, 90, 200), (210, 40, 40), (90, 90, 90), (255, 255, 255)
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 16, 16, 28


def plot_loss(rows: Sequence[LossRow], smoothed: Sequence[Optional[float]], reverts: Sequence[int] = (),
              size: tuple[int, int] = (720, 300)) -> Image.Image:
    """Raw loss in grey, ``smoothed`` (one value per row, None where unknown) in blue, reverts as red lines."""
    image = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(image)
    width, height = size
    left, right, top, bottom = MARGIN_LEFT, width - MARGIN_RIGHT, MARGIN_TOP, height - MARGIN_BOTTOM
    draw.line([(left, top), (left, bottom), (right, bottom)], fill=AXIS)
    points = [(r.step, r.loss) for r in rows if math.isfinite(r.loss)]
    if not points:
        draw.text((left + 8, top + 8), "no loss logged yet", fill=AXIS)
        return image
    first, last = rows[0].step, max(rows[-1].step, rows[0].step + 1)
    low, high = min(v for _, v in points), max(v for _, v in points)
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5

    def xy(step: float, value: float) -> tuple[float, float]:
        x = left + (step - first) / (last - first) * (right - left)
        y = bottom - (value - low) / (high - low) * (bottom - top)
        return x, y

    for step in reverts:
        if first <= step <= last:
            x, _ = xy(step, low)
            draw.line([(x, top), (x, bottom)], fill=REVERT, width=2)
    if len(points) > 1:
        draw.line([xy(s, v) for s, v in points], fill=RAW, width=1)
    curve = [xy(r.step, v) for r, v in zip(rows, smoothed) if v is not None and math.isfinite(v)]
    if len(curve) > 1:
        draw.line(curve, fill=SMOOTH, width=3)
    draw.text((4, top), f"{high:.4g}", fill=AXIS)
    draw.text((4, bottom - 10), f"{low:.4g}", fill=AXIS)
    draw.text((left, bottom + 6), f"step {first}", fill=AXIS)
    label = f"step {last}"
    draw.text((right - draw.textlength(label), bottom + 6), label, fill=AXIS)
    return image
