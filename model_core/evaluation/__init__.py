"""Evaluation (never runs inside Blender): the model card's accuracy table (``evaluate``, run as
``python -m model_core.evaluation.evaluate``), the keys against artists' own keys on the dev heads
(``real_eval``), and the software rasteriser of the documentation pictures (``render_util``)."""
