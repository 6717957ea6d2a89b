"""``save(graph, path)``: the NIR HDF5 layout, written by ``nir.write`` (so ``nir.read``
reads it back), atomically and deterministically (same graph, same bytes)."""
from __future__ import annotations

import os
from typing import Union

from ..util import atomic_path
from . import nir_compat as nir
from .graph import Graph


def save(graph: Union[Graph, "nir.NIRGraph"], path: Union[str, os.PathLike]) -> None:
    g = graph.to_nir() if isinstance(graph, Graph) else graph
    with atomic_path(path) as tmp:
        nir.write(tmp, g)
