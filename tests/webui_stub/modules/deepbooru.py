"""``modules.deepbooru`` as in the web UI 1.10: the ``DeepDanbooru`` interrogator (``load``, ``start``, ``stop``,
``tag``, ``tag_multi(pil_image, force_disable_ranks=False)``) and its one instance ``model``.

The real model is a torch ResNet over Danbooru's tags; this one scores a few tags from the picture's mean colour
(the real one resizes the RGB picture to 512x512 first), loads its "weights" as the real one does
(``modelloader``), and keeps the real ``tag_multi``'s handling of the settings: the score threshold,
``rating:`` tags dropped, alphabetical or score order, spaces, escapes, the filter list and ranks.
``stub_control.called("deepbooru.…")`` tells what the extension called.
"""

import os
import re
from pathlib import Path
from types import SimpleNamespace

from PIL import ImageStat

from modules import modelloader, paths, shared

re_special = re.compile(r'([\\()])')

# tag → its score from the mean colour (0-1 per channel) of the picture
_TAGS = {
    "rating:safe": lambda r, g, b: 0.9,
    "red_background": lambda r, g, b: max(0.0, r - (g + b) / 2),
    "blue_background": lambda r, g, b: max(0.0, b - (r + g) / 2),
    "white_background": lambda r, g, b: min(r, g, b),
    "bow_(weapon)": lambda r, g, b: 0.6 if r > 0.5 and b < 0.5 else 0.0,
    "^_^": lambda r, g, b: 0.55 if r > 0.5 else 0.0,
}


class DeepDanbooru:
    def __init__(self):
        self.model = None

    def load(self):
        if self.model is not None:
            return
        import stub_control

        stub_control.record("deepbooru.load")
        files = modelloader.load_models(
            model_path=os.path.join(paths.models_path, "torch_deepdanbooru"),
            model_url='https://github.com/AUTOMATIC1111/TorchDeepDanbooru/releases/download/v1/model-resnet_custom_v3.pt',
            ext_filter=[".pt"],
            download_name='model-resnet_custom_v3.pt',
        )
        # as the real one: the network is made before its weights are read, so a load that fails on a missing file
        # leaves a network without weights, which the next load takes as loaded
        self.model = SimpleNamespace(tags=list(_TAGS), device="cpu", weights=None)
        self.model.weights = Path(files[0]).read_bytes()

    def start(self):
        import stub_control

        self.load()
        stub_control.record("deepbooru.start")
        self.model.device = "cuda"

    def stop(self):
        import stub_control

        stub_control.record("deepbooru.stop")
        if not shared.opts.interrogate_keep_models_in_memory:
            self.model.device = "cpu"

    def tag(self, pil_image):
        self.start()
        res = self.tag_multi(pil_image)
        self.stop()

        return res

    def tag_multi(self, pil_image, force_disable_ranks=False):
        import stub_control
        from modules import call_queue

        stub_control.record("deepbooru.tag_multi", pil_image.size, force_disable_ranks=force_disable_ranks,
                            device=self.model.device, queue_locked=call_queue.queue_lock.locked())
        threshold = shared.opts.interrogate_deepbooru_score_threshold
        use_spaces = shared.opts.deepbooru_use_spaces
        use_escape = shared.opts.deepbooru_escape
        alpha_sort = shared.opts.deepbooru_sort_alpha
        include_ranks = shared.opts.interrogate_return_ranks and not force_disable_ranks

        pic = pil_image.convert("RGB").resize((512, 512))
        r, g, b = (v / 255 for v in ImageStat.Stat(pic).mean)
        if self.model.weights is None:  # a network never given its weights scores tags at random
            return "untrained_guess"
        y = [_TAGS[tag](r, g, b) for tag in self.model.tags]

        probability_dict = {}

        for tag, probability in zip(self.model.tags, y):
            if probability < threshold:
                continue

            if tag.startswith("rating:"):
                continue

            probability_dict[tag] = probability

        if alpha_sort:
            tags = sorted(probability_dict)
        else:
            tags = [tag for tag, _ in sorted(probability_dict.items(), key=lambda x: -x[1])]

        res = []

        filtertags = {x.strip().replace(' ', '_') for x in shared.opts.deepbooru_filter_tags.split(",")}

        for tag in [x for x in tags if x not in filtertags]:
            probability = probability_dict[tag]
            tag_outformat = tag
            if use_spaces:
                tag_outformat = tag_outformat.replace('_', ' ')
            if use_escape:
                tag_outformat = re.sub(re_special, r'\\\1', tag_outformat)
            if include_ranks:
                tag_outformat = f"({tag_outformat}:{probability:.3f})"

            res.append(tag_outformat)

        return ", ".join(res)


model = DeepDanbooru()
