"""Importing this package registers every model family (each module calls register_model at import time).

No module here imports TensorFlow or Keras at load time: `edgekit models` lists the registry from data alone.
"""

from edgekit.models.families import (  # noqa: F401
    alexnet,
    densenet,
    efficientnet,
    inception,
    mobilenet,
    nasnet,
    resnet,
    squeezenet,
    vgg,
    vit,
    xception,
)
