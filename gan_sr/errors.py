"""Errors a user can act on. The CLI prints them as one line and exits non-zero, never a traceback."""


class GansrError(Exception):
    """Base class: the message names the file or option at fault and what to do about it."""


class ImageError(GansrError):
    """An image could not be read or written (missing, truncated, not an image, too large, ...)."""


class CheckpointError(GansrError):
    """A checkpoint is missing, corrupt, foreign, or does not fit the requested model."""


class ConfigError(GansrError):
    """Options or a config file do not make sense together."""


class WeightsMissingError(GansrError):
    """Pretrained weights (VGG19, Inception) are needed and no local file was given or found."""


class TrainingDiverged(GansrError):
    """A loss became NaN or Inf; training stopped instead of looping on garbage."""


class MissingDependencyError(GansrError):
    """An optional package that this command needs (onnx, onnxruntime) is not installed."""
