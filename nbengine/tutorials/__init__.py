"""The tutorials that ship with nbengine, one TOML file per lesson (see nbengine/tutorial.py)."""
