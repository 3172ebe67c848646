"""The belief agent as an example package: ``web4 node --agent examples/belief:make``.

It is the node's default agent (``web4.node.believer``, shipped inside ``web4`` so a node
runs it without this directory); this package is how the examples are laid out and
loaded. Read ``web4/node/believer.py``: about 60 lines on the public API only.
"""

from web4.node.believer import BeliefAgent, make

__all__ = ["BeliefAgent", "make"]
