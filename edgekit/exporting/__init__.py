"""Export: Keras -> quantized artifacts in every format (formats/), with manifests and a fidelity check."""
