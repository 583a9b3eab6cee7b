"""A real, tiny tagger model for the tests: built with the ``onnx`` package, run by real onnxruntime.

The graph averages each colour channel of its NHWC input (in the order it is fed: BGR for a tagger fed right),
scales the means to 0–1, and maps them through fixed weights and a sigmoid to a handful of tag scores.  So a red
picture scores ``red_background`` high, a white one ``white_background``, and a picture fed RGB instead of BGR
scores as its colours swapped red for blue; a thin strip padded white scores white, padded black scores black.

``red_hero`` (a character) scores 0.73 on a red picture: above the general threshold 0.35, below the character
threshold 0.85, so only a lowered character threshold keeps it.  The WD14 layout also rates: white is general,
green sensitive, blue questionable, red explicit.

Nothing is downloaded: :func:`write_wd14` and :func:`write_z3d` write a model folder in either layout.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

K = 10.0  # how sharply a colour tag turns on


@dataclass(frozen=True)
class TinyLabel:
    name: str
    wd14_category: int  # Danbooru's numbers, 9 rating
    z3d_category: Optional[int]  # e621's numbers; None: not in the Z3D layout (the ratings)
    weights: tuple[float, float, float]  # per input channel, in the order fed: B, G, R
    bias: float


RED, GREEN, BLUE = (-K, -K, K), (-K, K, -K), (K, -K, -K)
LABELS: tuple[TinyLabel, ...] = (
    TinyLabel("general", 9, None, (K, K, K), -2.5 * K),
    TinyLabel("sensitive", 9, None, GREEN, -K / 2),
    TinyLabel("questionable", 9, None, BLUE, -K / 2),
    TinyLabel("explicit", 9, None, RED, -K / 2),
    TinyLabel("red_background", 0, 0, RED, -K / 2),
    TinyLabel("green_background", 0, 0, GREEN, -K / 2),
    TinyLabel("blue_background", 0, 0, BLUE, -K / 2),
    TinyLabel("white_background", 0, 0, (K, K, K), -2.5 * K),
    TinyLabel("black_background", 0, 0, (-K, -K, -K), K / 2),
    TinyLabel("red_hero", 4, 4, (-2.0, -2.0, 2.0), -1.0),  # 0.73 on pure red
    TinyLabel("blue_fox", 0, 5, BLUE, -K / 2),  # general in WD14, a species in Z3D
)
GENERAL_COLOURS = ("red_background", "green_background", "blue_background", "white_background", "black_background")


def sigmoid(x: float) -> float:
    return float(1 / (1 + np.exp(-x)))


def expected_score(label: TinyLabel, rgb: tuple[int, int, int]) -> float:
    """The score the model gives ``label`` for a picture of one colour ``rgb`` fed as BGR."""
    bgr = np.array(rgb[::-1], dtype=np.float64) / 255
    return sigmoid(float(np.dot(label.weights, bgr)) + label.bias)


def labels_for(layout: str) -> list[TinyLabel]:
    return [label for label in LABELS if layout == "wd14" or label.z3d_category is not None]


def write_model(path: Path, labels: Sequence[TinyLabel], side: Optional[int], input_name: str = "input_1:0",
                fixed_batch: bool = False, outputs: Optional[int] = None, dims: Optional[list] = None,
                axes: Sequence[int] = (1, 2)) -> Path:
    """An ONNX model scoring ``labels`` from the channel means of a ``(batch, side, side, 3)`` input (``side`` None:
    left open); ``outputs`` pads or cuts the output to that many scores (a model that disagrees with its list);
    ``dims`` and ``axes`` give another input shape and the axes averaged (an NCHW model: ``[1, 3, 64, 64]``,
    ``(2, 3)``)."""
    weights = np.array([label.weights for label in labels], dtype=np.float32).T  # (3, N)
    biases = np.array([label.bias for label in labels], dtype=np.float32)
    if outputs is not None:
        weights = np.resize(weights, (3, outputs)).astype(np.float32)
        biases = np.resize(biases, (outputs,)).astype(np.float32)
    count = weights.shape[1]
    dims = dims or [1 if fixed_batch else "batch", side or "height", side or "width", 3]
    graph = helper.make_graph(
        [helper.make_node("Mul", [input_name, "scale"], ["scaled"]),
         helper.make_node("ReduceMean", ["scaled"], ["means"], axes=list(axes), keepdims=0),
         helper.make_node("MatMul", ["means", "weights"], ["logits"]),
         helper.make_node("Add", ["logits", "biases"], ["shifted"]),
         helper.make_node("Sigmoid", ["shifted"], ["predictions_sigmoid"])],
        "tiny_tagger",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("predictions_sigmoid", TensorProto.FLOAT, [dims[0], count])],
        initializer=[numpy_helper.from_array(np.array(1 / 255, dtype=np.float32), "scale"),
                     numpy_helper.from_array(weights, "weights"),
                     numpy_helper.from_array(biases, "biases")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # onnxruntime 1.17 reads up to IR 9
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def write_tag_list(path: Path, layout: str, labels: Sequence[TinyLabel]) -> Path:
    path = Path(path)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        if layout == "wd14":
            writer.writerow(["tag_id", "name", "category", "count"])
            for number, label in enumerate(labels):
                writer.writerow([100 + number, label.name, label.wd14_category, 1000 - number])
        else:
            writer.writerow(["name", "category", "post_count"])
            for number, label in enumerate(labels):
                writer.writerow([label.name, label.z3d_category, 1000 - number])
    return path


def write_wd14(folder: Path, side: Optional[int] = 64, **model_options) -> Path:
    """A WD14-layout model folder: ``model.onnx`` + ``selected_tags.csv`` (the ratings first, as WD14's)."""
    folder = Path(folder)
    labels = labels_for("wd14")
    write_model(folder / "model.onnx", labels, side, input_name="input", **model_options)
    write_tag_list(folder / "selected_tags.csv", "wd14", labels)
    return folder


def write_z3d(folder: Path, side: Optional[int] = 448, **model_options) -> Path:
    """A Z3D-layout model folder: ``model.onnx`` + ``tags-selected.csv`` (e621's categories, no ratings)."""
    folder = Path(folder)
    labels = labels_for("z3d")
    write_model(folder / "model.onnx", labels, side, **model_options)
    write_tag_list(folder / "tags-selected.csv", "z3d", labels)
    return folder
