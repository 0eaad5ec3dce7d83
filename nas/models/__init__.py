"""Named fixed models (baselines and the spaces' presets) and their counting tools."""

from nas.models.registry import ModelEntry, create_model, get_entry, list_models, register_model

__all__ = ["ModelEntry", "create_model", "get_entry", "list_models", "register_model"]
