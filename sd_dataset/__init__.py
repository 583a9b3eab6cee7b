"""sd-webui-dataset: booru search or image folder -> training-ready dataset."""

__version__ = "0.1.0"
