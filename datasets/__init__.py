"""The data sets shipped with nbengine (installed as ``nbengine_datasets``).

Only data lives here; see README.md in this folder for each file's source and licence.
"""
