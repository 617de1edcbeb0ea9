"""minicontainer: a small but real container runtime, written to be read.

A container is an ordinary Linux process that the kernel shows a private view of the
world: its own namespaces (what it can see), cgroups (how much it may use), capabilities
(what it may do) and a root filesystem made of image layers joined by a union mount.
Every kernel call this package makes goes through :mod:`minicontainer.kernel`, so that
``minicontainer run --explain`` can list each step and why it was taken.
"""

__version__ = "0.1.0"
