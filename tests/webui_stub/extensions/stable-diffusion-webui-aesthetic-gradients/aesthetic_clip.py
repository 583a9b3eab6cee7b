"""The aesthetic-gradients extension's ``aesthetic_clip`` module, as far as the Dataset tab uses it: the embeddings
folder and list, and ``generate_imgs_embd(name, folder, batch_size)`` with the real one's flow (the loaded model's
CLIP name, the same image rule and batches, ``shared.state.interrupted`` between batches, the mean of the image
features, the same file name, the list updated, the same HTML returned; an empty folder fails in ``torch.cat``).

Stand-in parts, because torch, transformers and CLIP are not installed here: an image's "features" are its 16×16
RGB thumbnail's 768 values in 0–1 (CLIP ViT-L/14's image features are 768 values too), and the (1, 768) mean is
written with ``numpy.save`` (the real one writes a torch tensor with ``torch.save``) to the same ``<name>.pt``.
"""

import html
import itertools
import os
from collections import OrderedDict
from pathlib import Path

import numpy
from PIL import Image

from modules import call_queue, shared, scripts
import stub_control

aesthetic_embeddings_dir = os.path.join(scripts.basedir(), "aesthetic_embeddings")
os.makedirs(aesthetic_embeddings_dir, exist_ok=True)

aesthetic_embeddings = {}


def update_aesthetic_embeddings():
    global aesthetic_embeddings
    aesthetic_embeddings = {f.replace(".pt", ""): os.path.join(aesthetic_embeddings_dir, f) for f in os.listdir(aesthetic_embeddings_dir) if f.endswith(".pt")}
    aesthetic_embeddings = OrderedDict(**{"None": None}, **aesthetic_embeddings)


update_aesthetic_embeddings()


def get_all_images_in_folder(folder):
    return [os.path.join(folder, f) for f in os.listdir(folder) if
            os.path.isfile(os.path.join(folder, f)) and check_is_valid_image_file(f)]


def check_is_valid_image_file(filename):
    return filename.lower().endswith(('.png', '.jpg', '.jpeg', ".gif", ".tiff", ".webp"))


def iter_to_batched(iterable, n=1):
    it = iter(iterable)
    while True:
        chunk = tuple(itertools.islice(it, n))
        if not chunk:
            return
        yield chunk


def aesthetic_clip():
    # the real one loads CLIPModel.from_pretrained(this name): an SD2 or SDXL model has no such attribute path
    return shared.sd_model.cond_stage_model.wrapped.transformer.name_or_path


def _image_features(images):
    """stub: CLIPModel.get_image_features, one row of 768 values per image."""
    return numpy.stack([numpy.asarray(image.convert("RGB").resize((16, 16), Image.BICUBIC), dtype=numpy.float32)
                        .reshape(-1) / 255.0 for image in images])


def generate_imgs_embd(name, folder, batch_size):
    stub_control.record("generate_imgs_embd", name, folder, batch_size,
                        queue_lock_held=call_queue.queue_lock.locked(), model=aesthetic_clip())

    embs = []
    for paths in iter_to_batched(get_all_images_in_folder(folder), batch_size):
        if shared.state.interrupted:
            break
        stub_control.on_aesthetic_batch(len(embs))
        outputs = _image_features([Image.open(path) for path in paths])
        embs.append(outputs)

    if not embs:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    embs = numpy.concatenate(embs, axis=0).mean(axis=0, keepdims=True)

    # The generated embedding will be located here
    path = str(Path(aesthetic_embeddings_dir) / f"{name}.pt")
    with open(path, "wb") as fh:
        numpy.save(fh, embs)

    res = f"""
Done generating embedding for {name}!
Aesthetic embedding saved to {html.escape(path)}
"""
    update_aesthetic_embeddings()
    return res
