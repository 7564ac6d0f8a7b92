"""Restoring on a Dask cluster (a room: the core never imports it).

``files``: a batch of files as Dask tasks, each worker running the frame pipeline
(midnet/pipeline.py); ``large_images``: Zarr, OME-Zarr and very large TIFF planes restored
block by block into an OME-Zarr store, resumable.

May import: the core (everything but the rooms ``cli``, ``napari``, ``server``, ``export``, ``watch``).
"""
