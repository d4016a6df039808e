"""Render and train beyond one machine, on a Ray cluster.

Both jobs split cleanly: frames are independent given the Scene, prompts are independent
of each other. Ray does the scheduling, retries and resource accounting (GPUs included),
so Sonolume only cuts the work into tasks and puts the results back together:

* :mod:`engine.cluster.render`: a video as chunks of whole GOPs, each drawn and encoded to
  H.264 by one task, joined by stream copy (no re-encode) and muxed with the audio. The
  same chunked path runs locally without Ray, so a cluster render and a local chunked
  render decode to the same frames.
* :mod:`engine.cluster.train`: a mood board as one task per prompt; each finished style
  comes back as share-file bytes and lands in the local library as it arrives.

Ray is imported only when a cluster is used (:func:`require_ray`): the app and every other
command never pay its start-up cost, and a missing Ray is one clear message.
"""

from __future__ import annotations

from engine.errors import SonolumeError

INSTALL_HINT = "pip install 'sonolume[cluster]'"


class ClusterError(SonolumeError):
    """Ray is missing, the cluster cannot be reached, or a task failed for good."""


def require_ray():
    """The ``ray`` module, or one clear error saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ClusterError(f"rendering or training on a cluster needs Ray, which is not "
                           f"installed ({exc}); install it with: {INSTALL_HINT}") from None
    return ray


def connect(address: str | None = None, num_cpus: int | None = None):
    """Join the cluster at ``address`` ("host:port" or "auto" from a machine of the
    cluster, "ray://host:10001" through Ray Client from one outside it), or start a local
    Ray instance when ``address`` is None. A Ray already
    connected in this process (a test fixture, a notebook) is used as it is. Returns
    ``(ray, started)``: ``started`` says whether we made the connection and so should
    :func:`disconnect` it at the end."""
    ray = require_ray()
    if ray.is_initialized():
        return ray, False
    if address is None:
        kw: dict = {"include_dashboard": False, "log_to_driver": False}
        if num_cpus is not None:
            kw["num_cpus"] = int(num_cpus)
    elif address.startswith("ray://"):
        kw = {}  # Ray Client (a machine outside the cluster): the server picks the rest
    else:
        kw = {"log_to_driver": False}
    try:
        ray.init(address=address, **kw)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise ClusterError(f"cannot connect to {where}: {exc}") from exc
    return ray, True


def disconnect(ray, started: bool) -> None:
    if started and ray.is_initialized():
        ray.shutdown()


def task_error(exc: BaseException) -> SonolumeError:
    """One readable error from what Ray raised for a failed task: our own SonolumeError
    comes through as it was raised on the worker (the usual clear CLIP message, say)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, SonolumeError):
        return cause
    if isinstance(exc, SonolumeError):
        return exc
    text = str(cause if cause is not None else exc).strip().splitlines()
    return ClusterError(f"a cluster task failed: {text[-1] if text else type(exc).__name__}")
