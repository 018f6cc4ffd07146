"""pettrack.model: the nose localizer — network, heat-map codec, geometry, data, training,
evaluation and weights. Knows nothing of video or tracking."""

from .localizer import Detection, Localizer
from .weights import ModelInfo, WeightsError, default_weights_path, load_model

__all__ = ["Detection", "Localizer", "ModelInfo", "WeightsError", "default_weights_path", "load_model"]
