"""``model_hijack.embedding_db`` and the optimization switches the training wrappers call (web UI 1.10)."""

import modules.textual_inversion.textual_inversion

optimization_calls = []  # stub only: "undo"/"apply" in call order


class StableDiffusionModelHijack:
    def __init__(self):
        self.embedding_db = modules.textual_inversion.textual_inversion.EmbeddingDatabase()


def apply_optimizations(option=None):
    optimization_calls.append("apply")
    return ""


def undo_optimizations():
    optimization_calls.append("undo")


model_hijack = StableDiffusionModelHijack()
