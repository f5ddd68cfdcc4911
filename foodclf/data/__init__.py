"""Stage 1, images in: datasets on disk, the Lightning DataModule, transforms, image decoding,
the generated sample dataset and the data config that travels with every model."""
