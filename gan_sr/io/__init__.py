"""Images, sample grids and checkpoints: the only place that touches files of either kind."""
