"""Put openai/clip-vit-large-patch14's tokenizer and config into the Hugging Face cache without the network.

The web UI's SD1.x model reads them from the hub at load (the weights come from the checkpoint).  They are rebuilt
from the BPE merges open_clip ships, the same list the hub's files are made of.  Run with the web UI's Python;
``HF_HOME`` chooses the cache.
"""

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

lines = gzip.open(clip_bpe.default_bpe()).read().decode("utf-8").split("\n")
merges = [tuple(line.split()) for line in lines[1:49152 - 256 - 2 + 1]]
byte_chars = list(clip_bpe.bytes_to_unicode().values())
vocab = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges] + [TOKENS["bos_token"],
                                                                                          TOKENS["eos_token"]]
root = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub" / "models--openai--clip-vit-large-patch14"
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
