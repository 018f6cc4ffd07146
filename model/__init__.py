"""pettrack.model: the nose localizer — network, heat-map codec, geometry, data, training,
evaluation and weights. Knows nothing of video or tracking.

The names below are imported on first use: every `pettrack.model.*` import passes through this
package, and the command line must answer --help without loading torch.
"""

_PUBLIC = {
    "Detection": "localizer", "Localizer": "localizer",
    "ModelInfo": "weights", "WeightsError": "weights", "default_weights_path": "weights", "load_model": "weights",
}
__all__ = list(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
