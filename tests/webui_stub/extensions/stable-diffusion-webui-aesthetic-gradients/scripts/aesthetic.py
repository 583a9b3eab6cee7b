"""The aesthetic-gradients extension's ``scripts/aesthetic.py`` (AUTOMATIC1111/stable-diffusion-webui-aesthetic-gradients,
last commit 2023-01), as far as the Dataset tab meets it: it imports ``aesthetic_clip`` by its bare name while the web
UI has the extension's folder on ``sys.path``, which leaves that module in ``sys.modules``, and defines its
always-visible txt2img/img2img script.  Left out: the script's controls and ``process`` (generation), its
model-loaded/unloaded hooks, and its own "Create aesthetic embedding" tab, none of which the Dataset tab touches.
"""

from modules import scripts
import aesthetic_clip

aesthetic_imgs_components = []


class AestheticScript(scripts.Script):
    def title(self):
        return "Aesthetic embeddings"

    def show(self, is_img2img):
        return scripts.AlwaysVisible
