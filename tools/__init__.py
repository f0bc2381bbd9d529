"""Tools of a checkout of karbor-volume-glance, not shipped in its package.

``tools.bench`` is the benchmark (run ``python -m tools.bench`` from the
checkout's root); ``install-test-services`` installs the servers the
functional tests and the benchmark start on 127.0.0.1.
"""
