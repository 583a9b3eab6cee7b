import html

import modules.hypernetworks.hypernetwork
from modules import sd_hijack, shared

not_available = ["hardswish", "multiheadattention"]
keys = [x for x in modules.hypernetworks.hypernetwork.HypernetworkModule.activation_dict if x not in not_available]


def train_hypernetwork(*args):
    shared.loaded_hypernetworks = []
    assert not shared.cmd_opts.lowvram, 'Training models with lowvram is not possible'
    try:
        sd_hijack.undo_optimizations()
        hypernetwork, filename = modules.hypernetworks.hypernetwork.train_hypernetwork(*args)
        res = f"""
Training {'interrupted' if shared.state.interrupted else 'finished'} at {hypernetwork.step} steps.
Hypernetwork saved to {html.escape(filename)}
"""
        return res, ""
    finally:
        sd_hijack.apply_optimizations()
