"""Where the tests' inputs live, from anywhere in the tree."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  #: the repository
EXAMPLES = ROOT / "examples"
PAPER = ROOT / "tests" / "data" / "nir_paper"  #: neuromorphs/NIR paper files and traces
DOCS = ROOT / "docs"
