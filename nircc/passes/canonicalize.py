"""``canonicalize``: local simplifications every backend profits from.

Each change is an info :class:`~nircc.errors.Diagnostic` with ``stage="canonicalize"``:

=========================  =================================================================
code                       change
=========================  =================================================================
``drop-identity-flatten``  a Flatten whose input shape equals its output shape is removed
``drop-zero-delay``        a Delay whose delays are all 0 is removed
``fold-scale``             a Scale next to an Affine/Linear (and no fan-out between them) is
                           folded into it: after it, the weight rows and the bias are scaled
                           (``W' = diag(s) W``, ``b' = s b``); before it, the columns
                           (``W' = W diag(s)``); consecutive Scales become one
``merge-parallel``         parallel affine branches from one source into one node, and a
                           direct edge between the same two nodes, become one node: NIR adds
                           the inputs of a node, so ``x -> A1 -> n`` plus ``x -> A2 -> n``
                           is ``(W1 + W2) x + b1 + b2`` (a direct edge adds the identity)
=========================  =================================================================

What stays: a Linear stays a Linear (no bias) and an Affine an Affine, so backends can tell
"no bias" from "zero bias" (Xylo and Loihi treat a bias as a neuron input); a Linear becomes
an Affine only when it is combined with an Affine.  Chains of several Affine/Linear nodes
are ``fuse_affine``'s job.  Rewrites never move the delay of a recurrent cycle (see
:mod:`nircc.passes._rewrite` for the rules, names and number formats of rewritten nodes).
"""
from __future__ import annotations

from ..ir import Graph
from ._rewrite import affine_maps, find_chains, find_drops, find_parallel, rewrite

__all__ = ["canonicalize"]


def canonicalize(graph: Graph) -> Graph:
    """A canonical copy of ``graph`` (see the module docstring)."""
    return rewrite(graph, [
        find_drops,
        lambda g, back: find_chains(g, back, affine_maps(g), max_matrices=1),
        lambda g, back: find_parallel(g, back, affine_maps(g)),
    ], stage="canonicalize")
