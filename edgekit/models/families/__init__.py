"""The model families, one module each; edgekit.models.registry finds and imports them (no list to keep here).

No module here imports TensorFlow or Keras at load time: `edgekit models` lists the registry from data alone.
"""
