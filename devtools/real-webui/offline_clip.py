"""Put openai/clip-vit-large-patch14's tokenizer and config into the Hugging Face cache without the network.

The web UI's SD1.x model reads them from the hub at load (the weights come from the checkpoint).  They are rebuilt
from the BPE merges open_clip ships, the same list the hub's files are made of.  Run with the web UI's Python;
``HF_HOME`` chooses the cache.

``--weights`` also writes random weights for the whole CLIPModel (text and vision towers) and the image
processor's settings, for callers that load the model itself from the hub, as the aesthetic-gradients extension
does (``CLIPModel.from_pretrained`` and ``CLIPProcessor.from_pretrained`` of the SD model's CLIP name).  Its image
features mean nothing; their shape and the files made from them are real.
"""

import argparse
import gzip
import json
import os
from pathlib import Path

import open_clip.tokenizer as clip_bpe
from transformers import CLIPTokenizer

REPO, REVISION = "openai/clip-vit-large-patch14", "0" * 40
TOKENS = {"unk_token": "<|endoftext|>", "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
          "pad_token": "<|endoftext|>"}
TEXT = {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12, "num_hidden_layers": 12,
        "max_position_embeddings": 77, "vocab_size": 49408, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05,
        "projection_dim": 768, "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1}
VISION = {"hidden_size": 1024, "intermediate_size": 4096, "num_attention_heads": 16, "num_hidden_layers": 24,
          "patch_size": 14, "image_size": 224, "projection_dim": 768, "hidden_act": "quick_gelu"}

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--weights", action="store_true", help="also write random CLIPModel weights (about 1.7 GB)")
args = parser.parse_args()

lines = gzip.open(clip_bpe.default_bpe()).read().decode("utf-8").split("\n")
merges = [tuple(line.split()) for line in lines[1:49152 - 256 - 2 + 1]]
byte_chars = list(clip_bpe.bytes_to_unicode().values())
vocab = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges] + [TOKENS["bos_token"],
                                                                                          TOKENS["eos_token"]]
root = (Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"
        / "models--openai--clip-vit-large-patch14")
snapshot = root / "snapshots" / REVISION
snapshot.mkdir(parents=True, exist_ok=True)
(root / "refs").mkdir(exist_ok=True)
(root / "refs" / "main").write_text(REVISION)
(snapshot / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(vocab)}, ensure_ascii=False))
(snapshot / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
(snapshot / "special_tokens_map.json").write_text(json.dumps(TOKENS))
(snapshot / "tokenizer_config.json").write_text(json.dumps({**TOKENS, "model_max_length": 77, "do_lower_case": True,
                                                            "tokenizer_class": "CLIPTokenizer"}))
(snapshot / "config.json").write_text(json.dumps({"architectures": ["CLIPModel"], "model_type": "clip",
                                                  "projection_dim": 768, "text_config": TEXT,
                                                  "vision_config": VISION}))
tokenizer = CLIPTokenizer.from_pretrained(REPO, local_files_only=True)
ids = tokenizer("a red ball")["input_ids"]
assert len(tokenizer.get_vocab()) == 49408 and ids == [49406, 320, 736, 1069, 49407], ids  # as the hub's files give
print(f"{snapshot}: tokenizer and config written")

if args.weights:
    import torch
    from safetensors.torch import save_file
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor

    # CLIP's published preprocessing: bicubic resize and centre crop to 224, its own mean and deviation
    (snapshot / "preprocessor_config.json").write_text(json.dumps({
        "feature_extractor_type": "CLIPFeatureExtractor", "image_processor_type": "CLIPImageProcessor",
        "do_resize": True, "size": {"shortest_edge": 224}, "resample": 3, "do_center_crop": True,
        "crop_size": {"height": 224, "width": 224}, "do_rescale": True, "rescale_factor": 1 / 255,
        "do_normalize": True, "do_convert_rgb": True, "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711]}))
    torch.manual_seed(0)
    model = CLIPModel(CLIPConfig.from_pretrained(REPO, local_files_only=True))
    # transformers reads a safetensors file only when its metadata says it holds PyTorch tensors
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(snapshot / "model.safetensors"),
              metadata={"format": "pt"})
    loaded = CLIPModel.from_pretrained(REPO, local_files_only=True)
    processor = CLIPProcessor.from_pretrained(REPO, local_files_only=True)
    from PIL import Image
    pixels = processor(images=[Image.new("RGB", (300, 200), (200, 40, 40))], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        shape = tuple(loaded.get_image_features(pixel_values=pixels).shape)
    assert shape == (1, 768), shape
    print(f"{snapshot}: random CLIPModel weights and image processor written; image features {shape}")
