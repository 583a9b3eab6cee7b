"""Hypernetworks as in the web UI 1.10: list, create, train (training delegated to ``tests/fake_trainer.py``)."""

import glob
import json
import os

from modules import call_queue, shared
from modules.textual_inversion import textual_inversion
import stub_control


class HypernetworkModule:
    activation_dict = {"linear": None, "relu": None, "leakyrelu": None, "elu": None, "swish": None, "tanh": None,
                       "sigmoid": None, "hardswish": None, "multiheadattention": None}


class Hypernetwork:
    filename = None
    name = None

    def __init__(self, name=None, enable_sizes=None, layer_structure=None, activation_func=None, weight_init=None, add_layer_norm=False, use_dropout=False, activate_output=False, **kwargs):
        self.filename = None
        self.name = name
        self.layers = {size: None for size in enable_sizes or []}
        self.step = 0
        self.layer_structure = layer_structure
        self.activation_func = activation_func
        self.weight_init = weight_init
        self.add_layer_norm = add_layer_norm
        self.use_dropout = use_dropout
        self.activate_output = activate_output
        self.dropout_structure = kwargs.get('dropout_structure', None)
        self.weight = 0.0

    def save(self, filename):
        state = {"name": self.name, "step": self.step, "weight": self.weight, "enable_sizes": list(self.layers),
                 "layer_structure": self.layer_structure, "activation_func": self.activation_func,
                 "weight_initialization": self.weight_init, "is_layer_norm": self.add_layer_norm,
                 "use_dropout": self.use_dropout, "dropout_structure": self.dropout_structure}
        with open(filename, "w", encoding="utf-8") as fh:
            json.dump(state, fh, sort_keys=True)

    def load(self, filename):
        self.filename = filename
        with open(filename, encoding="utf-8") as fh:
            state = json.load(fh)
        self.name = state.get("name", self.name)
        self.step = state.get("step", 0)
        self.weight = state.get("weight", 0.0)
        self.layer_structure = state.get("layer_structure")


def list_hypernetworks(path):
    res = {}
    for filename in sorted(glob.iglob(os.path.join(path, '**/*.pt'), recursive=True), key=str.lower):
        name = os.path.splitext(os.path.basename(filename))[0]
        if name != "None":
            res[name] = filename
    return res


def create_hypernetwork(name, enable_sizes, overwrite_old, layer_structure=None, activation_func=None, weight_init=None, add_layer_norm=False, use_dropout=False, dropout_structure=None):
    stub_control.record("create_hypernetwork", name, enable_sizes, overwrite_old, layer_structure=layer_structure,
                        activation_func=activation_func, weight_init=weight_init, add_layer_norm=add_layer_norm,
                        use_dropout=use_dropout, dropout_structure=dropout_structure)
    stub_control.record("queue_lock_held", call_queue.queue_lock.locked())  # stub: whether a web UI job could run now
    name = "".join(x for x in name if (x.isalnum() or x in "._- "))
    assert name, "Name cannot be empty!"
    fn = os.path.join(shared.cmd_opts.hypernetwork_dir, f"{name}.pt")
    if not overwrite_old:
        assert not os.path.exists(fn), f"file {fn} already exists"
    if type(layer_structure) == str:
        layer_structure = [float(x.strip()) for x in layer_structure.split(",")]
    if use_dropout and dropout_structure and type(dropout_structure) == str:
        dropout_structure = [float(x.strip()) for x in dropout_structure.split(",")]
    else:
        dropout_structure = [0] * len(layer_structure)
    assert layer_structure[0] == 1, "Multiplier Sequence should start with size 1!"
    assert layer_structure[-1] == 1, "Multiplier Sequence should end with size 1!"
    hypernet = Hypernetwork(name=name, enable_sizes=[int(x) for x in enable_sizes], layer_structure=layer_structure,
                            activation_func=activation_func, weight_init=weight_init, add_layer_norm=add_layer_norm,
                            use_dropout=use_dropout, dropout_structure=dropout_structure)
    os.makedirs(shared.cmd_opts.hypernetwork_dir, exist_ok=True)
    hypernet.save(fn)
    shared.reload_hypernetworks()


def train_hypernetwork(id_task, hypernetwork_name: str, learn_rate: float, batch_size: int, gradient_step: int, data_root: str, log_directory: str, training_width: int, training_height: int, varsize: bool, steps: int, clip_grad_mode: str, clip_grad_value: float, shuffle_tags: bool, tag_drop_out: bool, latent_sampling_method: str, use_weight: bool, create_image_every: int, save_hypernetwork_every: int, template_filename: str, preview_from_txt2img: bool, preview_prompt: str, preview_negative_prompt: str, preview_steps: int, preview_sampler_name: str, preview_cfg_scale: float, preview_seed: int, preview_width: int, preview_height: int):
    args = locals().copy()
    stub_control.record("train_hypernetwork", **args)
    save_hypernetwork_every = save_hypernetwork_every or 0
    create_image_every = create_image_every or 0
    template_file = textual_inversion.textual_inversion_templates.get(template_filename, None)
    textual_inversion.validate_train_inputs(hypernetwork_name, learn_rate, batch_size, gradient_step, data_root, template_file, template_filename, steps, save_hypernetwork_every, create_image_every, log_directory, name="hypernetwork")

    path = shared.hypernetworks.get(hypernetwork_name, None)
    hypernetwork = Hypernetwork()
    hypernetwork.load(path)
    shared.loaded_hypernetworks = [hypernetwork]
    shared.state.job = "train-hypernetwork"
    shared.state.textinfo = "Initializing hypernetwork training..."
    shared.state.job_count = steps
    hypernetwork_name = hypernetwork_name.rsplit('(', 1)[0]
    filename = os.path.join(shared.cmd_opts.hypernetwork_dir, f'{hypernetwork_name}.pt')
    if (hypernetwork.step or 0) >= steps:
        shared.state.textinfo = "Model has already been trained beyond specified max steps"
        return hypernetwork, filename
    args.update(save_hypernetwork_every=save_hypernetwork_every, create_image_every=create_image_every,
                hypernetwork_name=hypernetwork_name)
    stub_control.trainer("hypernetwork").train_hypernetwork(**args)
    hypernetwork.load(filename)
    return hypernetwork, filename
