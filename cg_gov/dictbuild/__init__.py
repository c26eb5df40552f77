"""Building the bundled concept dictionary: corpus -> activations -> SAE -> labels -> quality."""
