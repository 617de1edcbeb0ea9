"""The OCI runtime-spec: the one container configuration (``config.json``).

libcontainer, Docker's original runtime library, became runc, and the contract between
every engine (dockerd and containerd, podman, Kubernetes' CRI) and its runtime became
the OCI runtime-spec: a *bundle* is a directory holding ``config.json`` and (usually) the
root filesystem. minicontainer speaks it too:

* :mod:`.spec` - the document as typed dataclasses, ``Spec.from_json`` / ``to_json``;
* :mod:`.validate` - the checks made before anything is created (after runc's validator);
* :mod:`.mounts` - a mount's ``options`` as mount(2) flags and data;
* :mod:`.build` - ``run``/``create``: the image and the flags as a config;
* :mod:`.launch` - a config as the launcher's plan (what the container's processes do);
* :mod:`.annotations` - what minicontainer adds that the spec has no field for.

``minicontainer run`` writes ``<state root>/containers/<id>/config.json`` and executes it;
``minicontainer-runc`` (:mod:`minicontainer.runc`) executes the config.json of any bundle.
"""

from .spec import Spec
from .validate import OCI_VERSION, validate

__all__ = ["Spec", "validate", "OCI_VERSION"]
