"""Ray for gan_lab: a local cluster that stays on this machine, or the cluster you point it at.

    cluster.init()                      # local Ray, every core, nothing listening beyond 127.0.0.1
    cluster.init(address="auto")        # the cluster `ray start --head` made (or RAY_ADDRESS)

The service (`gan_lab.serve`) and batch generation (`gan_lab.scale`) call `init` themselves; the same
code runs on a laptop and on a cluster, only the address differs.
"""

import logging
import os

from gan_lab.errors import GanLabError

# Ray binds its servers to the node's address; with this flag (meant for laptops) the node's address
# is the loopback one, so a local cluster is not reachable from the network.
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
# No token file written under ~/.ray, no usage report (the machine may be offline).
QUIET = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
QUIET_LOGGERS = ("ray", "ray.serve", "ray.data")  # their INFO lines would fill a notebook's outputs


def ray():
    """The `ray` module, or a GanLabError saying how to install it."""
    try:
        import ray as module
        import ray.data  # noqa: F401 (module.data below)
    except ImportError as err:
        raise GanLabError("Ray is not installed: pip install 'gan_lab[scale]' (or make install).") from err
    return module


def init(num_cpus=None, address=None):
    """Start (or join) Ray once per process. `address`: None for a local cluster on the loopback
    address with `num_cpus` (default every core); "auto" or "ray://host:10001" to join a cluster
    (RAY_ADDRESS does the same). Returns the ray module."""
    module = ray()
    if module.is_initialized():
        return module
    address = address or os.environ.get("RAY_ADDRESS")
    for key, value in QUIET.items():
        os.environ.setdefault(key, value)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    module.data.DataContext.get_current().enable_progress_bars = False  # gan_lab shows its own bar,
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # so Ray's note that it shows none is noise
    if address:
        module.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        return module
    os.environ.update(LOOPBACK)  # before the first process starts; every Ray process inherits it
    from ray._private import ray_constants  # read once, when ray was imported: set it here too

    ray_constants.ENABLE_RAY_CLUSTER = False
    module.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False,
                logging_level=logging.WARNING, runtime_env={"env_vars": LOOPBACK})
    return module


def shutdown():
    """Stop the local Ray this process started (a joined cluster keeps running)."""
    module = ray()
    if module.is_initialized():
        module.shutdown()


def keep_serve_on_loopback():
    """Ray Serve 2.x starts each replica's inter-deployment gRPC server on [::] (all interfaces),
    whatever the node's address. On a local cluster bind it to the loopback address instead; called in
    a replica's constructor, which runs before that server starts. A no-op on a real cluster."""
    if os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") != "0":
        return
    from ray.serve._private import replica

    original = replica.add_port_to_grpc_server
    if getattr(original, "gan_lab_loopback", False):
        return

    def on_loopback(server, address):
        return original(server, address.replace("[::]", "127.0.0.1"))

    on_loopback.gan_lab_loopback = True
    replica.add_port_to_grpc_server = on_loopback


def listening(pids=None) -> list:
    """(address, port, process name) of every listening TCP socket, of `pids` only if given."""
    import psutil

    found = []
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status != psutil.CONN_LISTEN or (pids is not None and conn.pid not in pids):
            continue
        try:
            name = psutil.Process(conn.pid).name() if conn.pid else "?"
        except psutil.Error:
            name = "?"
        found.append((conn.laddr.ip, conn.laddr.port, name))
    return sorted(found)


def ray_processes() -> set:
    """Process ids of this session's Ray: the children of this process, and theirs."""
    import psutil

    return {p.pid for p in psutil.Process().children(recursive=True)}


def is_loopback(address) -> bool:
    return address in ("127.0.0.1", "::1", "::ffff:127.0.0.1", "localhost")
