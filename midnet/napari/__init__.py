"""The napari plugin (npe2): restore a micrograph in napari, compare before and after, open SEM TIFFs at scale.

The manifest is ``napari.yaml`` beside this file, found through the ``napari.manifest``
entry point; install with ``pip install "midnet[napari]"``. The room calls the core
(midnet.inference.restore.make_restorer, midnet.images.io.read_image, midnet.images.metadata.pixel_size_nm);
the core never imports it. Nothing here imports napari or Qt at package import:
``_job`` (the restoration run, no GUI) is tested without a display.

May import: the core (a room).
"""
