"""``python -m tools.bench``: protect and restore, measured.

Starts a local cloud (``karbor-volume-glance-localcloud``) in its own process
and the banks of the run (:mod:`.banks`): a file bank in a work directory, and
for ``--bank s3`` or ``swift`` a SeaweedFS or a one-node Swift on 127.0.0.1
(:mod:`karbor_volume_glance.testing.objstores`, from
``tools/install-test-services``), with a bucket or container per case. For
each case (a bank, a size, a data pattern, a compression and a parallelism) it
makes a volume of that data, then protects and restores it with the real
clients through the standalone Runner in a fresh child process. It reports per
case the protect and restore times, the bytes stored in the bank, the child's
peak RSS, whether the restored bytes equal the source's, and the raw limits of
the same run: reading the volume's image from the local Glance and writing its
bytes into the case's bank's store (files for ``file``, one PUT at a time for
``s3`` and ``swift``).

The ``incremental`` case (``--pattern incremental``, in the default set)
protects a volume of random data in full, overwrites 1 % of it in scattered
4 KiB writes, protects it again with ``incremental``, restores that backup
and checks it against the changed volume; it reports the bytes the
incremental stored and its time relative to the full protect
(:mod:`.incremental`).

It lives in the checkout, not in the installed package: run it from the
checkout's root, in an environment with the package and its ``test`` extra
installed (``pip install -e '.[test]'``: the local cloud, boto3 and
python-swiftclient)::

    python -m tools.bench [--bank file[,s3,swift]]
        [--size 1G[,4G...]]
        [--pattern random,zeros,half-zeros,text,incremental]
        [--compression none|zlib|zstd|default] [--parallelism N[,M...]]
        [--download-streams 1,2,4,8|default] [--stream-cap none,100]
        [--backup-from-snapshot auto,true,false] [--json] [--keep DIR]

``--stream-cap`` runs a local cloud per value whose Glance sends each answer
at most that many MiB/s (issue 16: the benefit of ``download_streams``
measured on one machine); the table's ``stream`` column is the protect's
steady download-and-store rate.

It exits 0 only when every case restored the exact bytes.

``--compare karbor [--rounds N]`` runs :mod:`.karbor_compare` instead:
Karbor 1.6's own volume-glance plugin (at its default ``poll_interval`` and
at 1 s) and ours, alternating, on one volume, local cloud and bank, timed
side by side (``tox -e bench-karbor``).
"""
