"""The nbengine command line (installed as nbengine_cli). The only layer that prints."""
