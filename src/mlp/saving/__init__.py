"""Saving: the file format (:mod:`.format`, which knows no model) and model (de)serialisation
from a model's public state (:mod:`.model`). The public functions are in :mod:`mlp.io`."""
