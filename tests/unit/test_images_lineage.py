"""images.lineage: parents read off history and layers."""

from types import SimpleNamespace as NS

from minicontainer.images.lineage import kept_ancestors, parents


def _img(i, history, layers, tags=()):
    return NS(id=i, history=[{"created_by": h} for h in history], diff_ids=list(layers), repo_tags=list(tags))


def test_parents_and_kept_ancestors():
    base = _img("b", ["base"], ["L1"], ["busybox:latest"])
    step1 = _img("s1", ["base", "ENV A=1"], ["L1"])
    step2 = _img("s2", ["base", "ENV A=1", "RUN x"], ["L1", "L2"], ["app:1"])
    other = _img("o", ["base", "ENV A=2"], ["L1"])                 # same depth, another step: not a child of s1
    stray = _img("z", ["something else"], ["L9"])
    images = [base, step1, step2, other, stray]
    assert parents(images) == {"s1": "b", "s2": "s1", "o": "b"}
    assert kept_ancestors(images, {}) == {"s1": ["(the parent of a kept image)"], "b": ["(the parent of a kept image)"]}
    assert set(kept_ancestors(images, {"o": ["web"]})) == {"s1", "b"}
    assert kept_ancestors([stray], {}) == {}
