import argparse

cmd_opts = argparse.Namespace(
    embeddings_dir="embeddings", hypernetwork_dir="models/hypernetworks",
    textual_inversion_templates_dir="textual_inversion_templates", lowvram=False, medvram=False,
    skip_install=False, freeze_settings=False, ui_settings_file="config.json", disable_all_extensions=False,
    disable_extra_extensions=False,
    # modules/cmd_args.py's network options, with their defaults
    listen=False, port=None, server_name=None, cors_allow_origins=None, cors_allow_origins_regex=None,
)
