"""Images as layers: a content-addressed store, union mounts, diff/commit, archives.

An image is never modified. It is a JSON *config* (environment, command, the list of
layer digests, the history) plus an ordered list of *layers*; each layer is a tar of
the files one step added, changed or deleted (deletions recorded as ``.wh.`` whiteout
entries). A container gets its own empty writable directory on top of the image's
layers, joined by overlayfs, so a hundred containers share one copy of the image.

Modules (each one job):

* :mod:`.reference` - ``name[:tag]`` parsing, and Docker's normalisation for registries;  :mod:`.digest` - sha256 content addresses
* :mod:`.store` - :class:`ImageStore`: blobs, unpacked layers, tags, the index
* :mod:`.whiteouts` - OCI ``.wh.`` entries <-> overlayfs whiteouts, both ways
* :mod:`.tarreader` / :mod:`.extract` - a bounded tar parser and a confined extractor
* :mod:`.tarwriter` - a directory (or a container's upper dir) -> a layer tar
* :mod:`.busybox` - the base image made from the host's static busybox
* :mod:`.commit` - a container's upper directory -> a new layer and a new image
* :mod:`.progress` - the progress bar for long saves and loads (only on a terminal)
* :mod:`.changes` - ``diff`` (A/C/D) and flattening for ``export``
* :mod:`.archive` - ``save``/``load``/``import`` (OCI image layout and docker-save)

The overlay mount itself (lowerdir order, the one-page option limit) is
:mod:`minicontainer.overlay`; it takes ``Image.layer_dirs`` as they are.
Nothing is imported here, so ``minicontainer run`` pays only for :mod:`.store`.
See the OCI image spec: https://github.com/opencontainers/image-spec
"""
