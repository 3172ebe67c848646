"""The librarian: an example agent that answers a human's questions from the node's
accepted knowledge (see README.md). ``web4 node --agent examples/librarian:make``."""

from .agent import Librarian, make

__all__ = ["Librarian", "make"]
