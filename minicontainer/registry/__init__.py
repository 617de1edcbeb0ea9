"""Published images: the OCI distribution API (pull, push, login) and the lab registry.

A registry stores what ``save`` would write - blobs by digest, manifests that name them -
behind an HTTP API (the OCI distribution spec, which Docker's registry v2 became). Pull
and push are a handful of calls on ``/v2/<name>/manifests/<ref>`` and
``/v2/<name>/blobs/<digest>``; see ``docs/registry.md`` for the walk-through.

Modules (each one job):

* :mod:`.settings` - the default registry, plain HTTP only for loopback/insecure ones
* :mod:`.credentials` - docker's ``config.json`` ``auths`` (mode 0600)
* :mod:`.auth` - ``WWW-Authenticate`` challenges, Basic and the Bearer token flow
* :mod:`.transport` - one registry's HTTP session: auth, redirects, credentials kept home
* :mod:`.manifests` - Accept negotiation, the 4 MiB cap, digest checks, platform choice
* :mod:`.blobs` - verified downloads, gzip/zstd, chunked resumable uploads, mounts
* :mod:`.pull` / :mod:`.push` / :mod:`.login` - the commands, as library calls
* :mod:`.server` - the lab registry (Debian's docker-registry) on 127.0.0.1

Image references (``busybox`` -> ``docker.io/library/busybox:latest``) are parsed by
:func:`minicontainer.images.reference.parse`. Nothing here is on the container start path.
"""
