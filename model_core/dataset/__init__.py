"""Training data (never runs inside Blender): ICT-FaceKit loading (``ict``), cross-topology remeshing (``remesh``),
the augmented training stream (``sampler``), network inputs and targets of a sampled group (``batch``), and the
rules that derive the ICT region labels (``region_labels``)."""
