"""``minicontainer-runc``: the runc command line, so that engines can use minicontainer as their runtime.

podman (``--runtime``), containerd (``ctr run --runc-binary``, or a shim's ``BinaryName``)
and Kubernetes (a RuntimeClass handler) all drive their runtime through runc's verbs on an
OCI bundle. :mod:`.container` holds the lifecycle, :mod:`.cli` the command line,
:mod:`.commands` the verbs that are more than one call, :mod:`.devices` the devices cgroup.
"""
