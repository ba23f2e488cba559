"""Training (torch; never runs inside Blender): the network (``network``, mirrored in numpy by
``runtime/layers.py``), the losses (``losses``), the training loop (``python -m model_core.training.train``) and the
export of a checkpoint to the runtime's weights (``python -m model_core.training.export``)."""
