"""``fuse_affine``: every chain of affine maps with no state between them becomes one node.

A chain ``Affine/Linear/Scale -> ... -> Affine/Linear/Scale`` with no fan-out before its
last node and no other input after its first becomes one node computing the composition
(``W = W2 W1``, ``b = W2 b1 + b2``; Scales as diagonal matrices); parallel affine branches
between the same two nodes are summed (``W = W1 + W2``, a direct edge adds the identity).
The two are repeated until nothing changes, so affine sub-graphs of chains and parallel
paths collapse completely.  A node whose value another branch also reads (a fan-out) is
never fused away, and no rewrite changes which value a recurrent cycle delays (see
:mod:`nircc.passes._rewrite`, which also gives the names, types and float64 format of the
fused nodes).

Fusing can grow the parameter count (a 100 -> 10 -> 100 bottleneck becomes a dense
100 x 100 matrix); each fusion's info diagnostic (``fuse-chain`` / ``merge-parallel``,
``stage="fuse_affine"``) gives the counts before and after.
"""
from __future__ import annotations

from ..ir import Graph
from ._rewrite import affine_maps, find_chains, find_parallel, rewrite

__all__ = ["fuse_affine"]


def fuse_affine(graph: Graph) -> Graph:
    """A copy of ``graph`` with affine chains and parallel affine paths fused."""
    return rewrite(graph, [
        lambda g, back: find_chains(g, back, affine_maps(g), max_matrices=None),
        lambda g, back: find_parallel(g, back, affine_maps(g)),
    ], stage="fuse_affine")
