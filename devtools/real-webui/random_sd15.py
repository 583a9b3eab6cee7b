"""Write an SD1.5-architecture checkpoint with random weights, for smoke runs of the web UI's trainers on a machine
without a real checkpoint (loss values mean nothing; files, schedules and logs are real).

Run from the web UI's folder with its Python, after ``offline_clip.py``:

    HF_HUB_OFFLINE=1 venv/bin/python …/random_sd15.py models/Stable-diffusion/random-sd15.safetensors
"""

import sys

import torch

sys.path.insert(0, "repositories/stable-diffusion-stability-ai")
import ldm.modules.encoders.modules as encoders  # noqa: E402
from ldm.util import instantiate_from_config  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import CLIPTextConfig, CLIPTextModel  # noqa: E402

# the text encoder's weights come from the hub; a random one of the same shape needs only its config
encoders.CLIPTextModel.from_pretrained = staticmethod(lambda name: CLIPTextModel(CLIPTextConfig.from_pretrained(name)))
torch.manual_seed(0)
model = instantiate_from_config(OmegaConf.load("configs/v1-inference.yaml").model)
weights = {key: value.detach().to(torch.float16).contiguous() for key, value in model.state_dict().items()}
save_file(weights, sys.argv[1])
print(f"{sys.argv[1]}: {len(weights)} tensors, {sum(v.numel() for v in weights.values()):,} parameters")
