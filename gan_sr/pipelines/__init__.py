"""End-to-end jobs built from the library: benchmarks, tiled upscaling, post-hoc SR, reports."""
