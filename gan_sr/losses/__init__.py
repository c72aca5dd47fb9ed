"""Training losses: perceptual (VGG19 from a local file) and adversarial."""
