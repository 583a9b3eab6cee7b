"""Textual inversion as in the web UI 1.10: templates, the embedding database, create and train.

Signatures, assertions and returns are the real ones; the training itself is ``tests/fake_trainer.py``'s, and
embedding files are its small JSON documents.
"""

import json
import os
from collections import namedtuple

from modules import call_queue, errors, shared
import stub_control

TextualInversionTemplate = namedtuple("TextualInversionTemplate", ["name", "path"])
textual_inversion_templates = {}


def list_textual_inversion_templates():
    textual_inversion_templates.clear()
    for root, _, fns in os.walk(shared.cmd_opts.textual_inversion_templates_dir):
        for fn in fns:
            path = os.path.join(root, fn)
            textual_inversion_templates[fn] = TextualInversionTemplate(fn, path)
    return textual_inversion_templates


class Embedding:
    def __init__(self, vec, name, step=None):
        self.vec = vec  # stub: the fake trainer's state dict
        self.name = name
        self.step = step
        self.filename = None

    def save(self, filename):
        with open(filename, "w", encoding="utf-8") as fh:
            json.dump({**self.vec, "name": self.name, "step": self.step}, fh, sort_keys=True)


class EmbeddingDatabase:
    def __init__(self):
        self.ids_lookup = {}
        self.word_embeddings = {}
        self.skipped_embeddings = {}
        self.embedding_dirs = {}
        self._seen = None

    def add_embedding_dir(self, path):
        self.embedding_dirs[path] = path

    def clear_embedding_dirs(self):
        self.embedding_dirs.clear()

    def _listing(self):
        listing = []
        for path in self.embedding_dirs:
            if os.path.isdir(path):
                listing += [(fn, os.path.getmtime(os.path.join(path, fn))) for fn in sorted(os.listdir(path))]
        return listing

    def load_textual_inversion_embeddings(self, force_reload=False):
        if not force_reload and self._listing() == self._seen:
            return
        self.word_embeddings.clear()
        for path in self.embedding_dirs:
            if not os.path.isdir(path):
                continue
            for fn in sorted(os.listdir(path)):
                if fn.endswith(".pt"):
                    try:
                        with open(os.path.join(path, fn), encoding="utf-8") as fh:
                            data = json.load(fh)
                    except Exception:
                        errors.report(f"Error loading embedding {fn}", exc_info=True)
                        continue
                    name = os.path.splitext(fn)[0]
                    embedding = Embedding(data, name, data.get("step", None))
                    embedding.filename = os.path.join(path, fn)
                    self.word_embeddings[name] = embedding
        self._seen = self._listing()


def create_embedding(name, num_vectors_per_token, overwrite_old, init_text='*'):
    cond_model = shared.sd_model.cond_stage_model  # noqa: F841  (the real one encodes init_text with it)
    stub_control.record("create_embedding", name, num_vectors_per_token, overwrite_old, init_text=init_text)
    stub_control.record("queue_lock_held", call_queue.queue_lock.locked())  # stub: whether a web UI job could run now
    name = "".join(x for x in name if (x.isalnum() or x in "._- "))
    fn = os.path.join(shared.cmd_opts.embeddings_dir, f"{name}.pt")
    if not overwrite_old:
        assert not os.path.exists(fn), f"file {fn} already exists"
    os.makedirs(shared.cmd_opts.embeddings_dir, exist_ok=True)
    embedding = Embedding({"weight": 0.0, "vectors": num_vectors_per_token, "init_text": init_text}, name)
    embedding.step = 0
    embedding.save(fn)
    return fn


def validate_train_inputs(model_name, learn_rate, batch_size, gradient_step, data_root, template_file, template_filename, steps, save_model_every, create_image_every, log_directory, name="embedding"):
    assert model_name, f"{name} not selected"
    assert learn_rate, "Learning rate is empty or 0"
    assert isinstance(batch_size, int), "Batch size must be integer"
    assert batch_size > 0, "Batch size must be positive"
    assert isinstance(gradient_step, int), "Gradient accumulation step must be integer"
    assert gradient_step > 0, "Gradient accumulation step must be positive"
    assert data_root, "Dataset directory is empty"
    assert os.path.isdir(data_root), "Dataset directory doesn't exist"
    assert os.listdir(data_root), "Dataset directory is empty"
    assert template_filename, "Prompt template file not selected"
    assert template_file, f"Prompt template file {template_filename} not found"
    assert os.path.isfile(template_file.path), f"Prompt template file {template_filename} doesn't exist"
    assert steps, "Max steps is empty or 0"
    assert isinstance(steps, int), "Max steps must be integer"
    assert steps > 0, "Max steps must be positive"
    assert isinstance(save_model_every, int), "Save {name} must be integer"
    assert save_model_every >= 0, "Save {name} must be positive or 0"
    assert isinstance(create_image_every, int), "Create image must be integer"
    assert create_image_every >= 0, "Create image must be positive or 0"
    if save_model_every or create_image_every:
        assert log_directory, "Log directory is empty"


def train_embedding(id_task, embedding_name, learn_rate, batch_size, gradient_step, data_root, log_directory, training_width, training_height, varsize, steps, clip_grad_mode, clip_grad_value, shuffle_tags, tag_drop_out, latent_sampling_method, use_weight, create_image_every, save_embedding_every, template_filename, save_image_with_stored_embedding, preview_from_txt2img, preview_prompt, preview_negative_prompt, preview_steps, preview_sampler_name, preview_cfg_scale, preview_seed, preview_width, preview_height):
    args = locals().copy()
    stub_control.record("train_embedding", **args)
    stub_control.record("hypernetworks_applied", *shared.loaded_hypernetworks)  # stub: what this training sees
    save_embedding_every = save_embedding_every or 0
    create_image_every = create_image_every or 0
    template_file = textual_inversion_templates.get(template_filename, None)
    validate_train_inputs(embedding_name, learn_rate, batch_size, gradient_step, data_root, template_file, template_filename, steps, save_embedding_every, create_image_every, log_directory, name="embedding")

    shared.state.job = "train-embedding"
    shared.state.textinfo = "Initializing textual inversion training..."
    shared.state.job_count = steps
    filename = os.path.join(shared.cmd_opts.embeddings_dir, f'{embedding_name}.pt')

    from modules import sd_hijack
    embedding = sd_hijack.model_hijack.embedding_db.word_embeddings[embedding_name]
    if (embedding.step or 0) >= steps:
        shared.state.textinfo = "Model has already been trained beyond specified max steps"
        return embedding, filename
    embedding.vec["step"] = embedding.step or 0
    trainer = stub_control.trainer("embedding")
    trainer.loaded = {embedding_name: embedding.vec}  # trains the copy in memory, as the real one
    args.update(save_embedding_every=save_embedding_every, create_image_every=create_image_every)
    trainer.train_embedding(**args)
    embedding.step = embedding.vec["step"]
    return embedding, filename
