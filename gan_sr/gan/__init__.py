"""Limited-data GAN: networks and adaptive discriminator augmentation."""
