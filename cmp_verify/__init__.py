"""``cmp-verify``: checks an evidence bundle offline, with the standard library and
``cryptography`` only (no database, nothing else of this project). ``merkle`` is the RFC 6962
tree the server builds its checkpoints with.
"""
