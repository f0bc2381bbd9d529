"""The on-bank format, in one place: what this project writes into a bank
and how whatever it reads back is checked.

One module per part, as ``doc/backup-format.rst`` describes them:

* :mod:`.manifest` -- a backup's manifest (``metadata``): what protect
  writes, and the formats it reads (3, 2, 1 and Karbor's own layout);
* :mod:`.chunks` -- a chunk's record and its stored bytes: zero chunks,
  stored-size and hash checks, object names;
* :mod:`.compression` -- how a chunk's stored bytes are compressed;
* :mod:`.delta` -- delta objects: the blocks of a chunk that changed since
  its base;
* :mod:`.index` -- the entries of the index of a volume's backups;
* :mod:`.checkpoint` -- checkpoint records and their index keys, in Karbor's
  layout;
* :mod:`.status` -- every status: a backup's, an index entry's, a
  checkpoint's.

Pure: dicts and bytes in, dicts, records and bytes out, or an error naming
what is wrong. No cloud client, no bank, no I/O; the operations
(:mod:`karbor_volume_glance.operations`) read and write the bank.
"""
