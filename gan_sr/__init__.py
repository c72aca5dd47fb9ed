"""gansr: super-resolution and limited-data GANs for small sets of anime-style images."""

__version__ = "0.1.0"
