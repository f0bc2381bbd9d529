"""The plugin's operations, one module each: protect, restore, delete, verify.

Each is a Karbor-style Operation (:mod:`.base`) doing its work in ``on_main``;
they share status bookkeeping, metadata checks and the chunk transfer.
"""
