"""Dockerfile builds: a script of changes applied to an image, each one kept as a layer.

``minicontainer build -t app .`` reads ``./Dockerfile`` and, instruction by instruction,
turns a base image into a new one. Nothing new happens in the kernel: a RUN step is a
container (namespaces, an overlay root, a cgroup) whose overlay *upper directory* is
committed as a layer; COPY makes a layer from files on the host; the rest edit the
image config. What makes builds fast is the *layer cache*: a step already applied to
the same parent is not done again.

Modules (each one job):

* :mod:`.parser` - directives, continuations, comments, exec/shell form, ``FILE:LINE`` errors
* :mod:`.words` - quoting and ``$VAR``/``${VAR:-default}`` substitution
* :mod:`.instructions` - what each config-only instruction stores (ENV, CMD, EXPOSE...)
* :mod:`.context` - the build context and ``.dockerignore``; content hashes for the cache
* :mod:`.cache` - cache keys and the key -> image table
* :mod:`.stages` - ``FROM ... AS``, stage and argument scopes, ``--target``
* :mod:`.filesteps` - COPY/ADD/WORKDIR layers made in a staging directory
* :mod:`.runstep` - RUN in a real container, output streamed, upper dir committed
* :mod:`.steps` - RUN/WORKDIR/COPY/ADD planned for the cache
* :mod:`.builder` - :class:`~.builder.Builder`, which ties them together

Nothing is imported here: ``minicontainer run`` never pays for the builder.
See docker-build(1) and https://docs.docker.com/reference/dockerfile/
"""
