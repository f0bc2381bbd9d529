"""``karbor-volume-glance-localcloud``: run a local cloud until interrupted.

Prints where each service is and a clouds.yaml snippet (admin and demo) to
paste, then serves until SIGINT or SIGTERM. It binds to 127.0.0.1 unless told
otherwise, on a free port unless ``--port`` names one; without
``--data-dir`` the data lives in a temporary directory removed at exit.
"""

import argparse
import hashlib
import logging
import signal
import sys
import tempfile
import threading

import yaml

from karbor_volume_glance.testing.localcloud.cloud import LocalCloud


def _parser():
    parser = argparse.ArgumentParser(
        prog="karbor-volume-glance-localcloud",
        description="Serve Keystone, Cinder, Glance and Nova locally for the "
                    "real OpenStack clients.",
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0,
                        help="port to bind (default: 0, a free port)")
    parser.add_argument("--data-dir",
                        help="where volume, snapshot and image files live "
                             "(default: a temporary directory)")
    parser.add_argument("--status-delay", type=float, default=0.05,
                        help="seconds each status change takes (default: 0.05)")
    parser.add_argument("--gib", type=int, default=1024**3,
                        help="bytes per GiB of volume size (default: 1073741824)")
    parser.add_argument("--region", default="RegionOne")
    parser.add_argument("--enable-force-upload", action="store_true",
                        help="Cinder's enable_force_upload: honour force when "
                        "an in-use volume is uploaded to an image (default: "
                        "off, as in Cinder)")
    parser.add_argument("--hashing-algorithm", default="sha512",
                        choices=sorted(hashlib.algorithms_guaranteed - {
                            "shake_128", "shake_256"}),
                        help="Glance's hashing_algorithm, the os_hash_algo of "
                        "new image data (default: sha512)")
    parser.add_argument("--stream-cap", type=float, metavar="MIB_PER_S",
                        help="the most MiB per second each image download "
                        "sends, a token bucket per answer, as a slow Glance "
                        "store would (default: no cap)")
    parser.add_argument("--debug", action="store_true",
                        help="log every request")
    return parser


def _banner(cloud):
    clouds = {"clouds": {"localcloud-admin": cloud.cloud_config("admin"),
                         "localcloud-demo": cloud.cloud_config("demo")}}
    lines = [
        f"localcloud serving at {cloud.url}",
        f"  identity  {cloud.auth_url}",
        f"  volume    {cloud.url}/volume/v3/<project_id>",
        f"  image     {cloud.url}/image",
        f"  compute   {cloud.url}/compute/v2.1",
        f"  faults    {cloud.url}/_localcloud/faults",
        f"  data      {cloud.data_dir}",
        "clouds.yaml:",
        yaml.safe_dump(clouds, default_flow_style=False, sort_keys=False).rstrip(),
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)


def main(argv=None):
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO,
                        stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with tempfile.TemporaryDirectory(prefix="localcloud-") as scratch:
        cloud = LocalCloud(args.data_dir or scratch, host=args.host, port=args.port,
                           status_delay=args.status_delay,
                           region=args.region, gib=args.gib,
                           stream_cap=(args.stream_cap * 1024 * 1024
                                       if args.stream_cap else None))
        cloud.volumes.enable_force_upload = args.enable_force_upload
        cloud.images.hashing_algorithm = args.hashing_algorithm
        with cloud:
            print(_banner(cloud), flush=True)
            while not stop.wait(1.0):
                pass
        print("localcloud stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
