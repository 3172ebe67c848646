"""The librarian: an example agent that answers a human's questions from the node's
accepted knowledge (see README.md)."""
