"""nfs_blender's model core: ICT-FaceKit data, mesh operations, the neural face skinning model.

Runtime modules (mesh, frames, facs_names, regions, proxy, runtime) are numpy-only and run inside a stock
Blender; training modules (network, losses, train, evaluate, export, sampler, remesh) may use torch.
"""
__version__ = "0.1.0"
