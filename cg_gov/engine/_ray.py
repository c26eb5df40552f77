"""``extraction.executor: ray``: the engine's own truncated forward + SAE encode in a Ray Data actor
pool, one model and SAE per actor (Ray Data's batch-inference recipe: a callable class in
``Dataset.map_batches`` with an actor pool).

The driver sends the items that are not in the activation cache; each actor prepares a batch
(tokenise, mark counted tokens), runs :func:`~cg_gov.engine.residual_batches` and
:func:`~cg_gov.engine.encode_batch` exactly as the local executor does, and returns per item its
counted-token count and the sparse mean and max rows. The driver writes each returned batch to the
same content-addressed cache as the local executor, as it arrives: a Ray run and a local run share
each other's results, and an interrupted run recomputes only what is missing.

Ray is an optional extra: ``pip install 'cg-gov[ray]'``.
"""
from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from cg_gov.errors import CgGovError, MissingDependencyError

if TYPE_CHECKING:  # pragma: no cover
    from cg_gov.dictionary import ConceptDictionary
    from cg_gov.spec import ExtractionSettings

__all__ = ["compute_with_ray", "require_ray"]

#: Environment passed to the actors: offline hubs and the same cache folder (the converted model).
_ENV_KEYS = ("CG_GOV_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE",
             "TOKENIZERS_PARALLELISM", "HF_HOME")


def require_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError("extraction.executor: ray needs Ray Data, which is not installed",
                                     hint="pip install 'cg-gov[ray]'") from exc
    return ray


def loopback_only(ray) -> None:
    """Make a cluster started here listen on 127.0.0.1 only. Ray replaces a loopback node address by
    the machine's own address, and its servers then listen on every interface, unless it is told
    that this is no multi-node cluster (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, read by Ray at import
    and by the processes it starts)."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    try:
        ray._private.ray_constants.ENABLE_RAY_CLUSTER = False
    except AttributeError:  # pragma: no cover - another Ray layout: the environment variable still holds
        pass


def _connect(ray, settings: "ExtractionSettings") -> bool:
    """Connect to (or start) the cluster of ``settings.ray.address``; True when started here."""
    if ray.is_initialized():
        return False
    env = {k: os.environ[k] for k in _ENV_KEYS if k in os.environ}
    address = settings.ray.address
    kwargs: dict[str, Any] = {"runtime_env": {"env_vars": env}, "include_dashboard": False,
                              "log_to_driver": False, "configure_logging": False}
    if address != "local":
        ray.init(address=address, **kwargs)
        return True
    need = settings.ray.actors * settings.ray.cpus_per_actor
    loopback_only(ray)
    # Ray gives a new node 30 s to register, which a busy small machine can miss: tried three times
    for attempt in range(3):
        try:
            ray.init(num_cpus=max(1, int(np.ceil(need))), _node_ip_address="127.0.0.1", **kwargs)
            return True
        except Exception:  # noqa: BLE001 - Ray raises a bare Exception on a slow start
            ray.shutdown()
            if attempt == 2:
                raise
    return True


class _Actor:
    """One model + SAE, loaded once; turns a batch of items into per-item activation rows with the
    engine's own function (``rows_fn``: :func:`cg_gov.engine._activations.item_rows`)."""

    def __init__(self, dictionary: "ConceptDictionary", settings: "ExtractionSettings", threads: int,
                 rows_fn: Callable) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        self.d, self.settings, self.rows_fn = dictionary, settings, rows_fn
        self.model, self.tok = dictionary.language_model(dtype=settings.dtype, device=settings.device)
        self.sae = dictionary.sae(device=settings.device)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"]]
        responses = None
        if "response" in batch:
            responses = [None if not has else str(r) for r, has in zip(batch["response"], batch["has_response"])]
        n_tok, rows = self.rows_fn(self.model, self.tok, self.sae, self.d, self.settings, texts, responses)
        return {"pos": np.asarray(batch["pos"]), "n_tokens": n_tok,
                "indices": np.array([r[0].astype(np.int32).tobytes() for r in rows], dtype=object),
                "abar": np.array([r[1].astype(np.float32).tobytes() for r in rows], dtype=object),
                "max": np.array([r[2].astype(np.float32).tobytes() for r in rows], dtype=object)}


def compute_with_ray(items: list[tuple[str, str | None]], dictionary: "ConceptDictionary",
                     settings: "ExtractionSettings", rows_fn: Callable,
                     on_batch: Callable[[list[int], np.ndarray, Any, Any], None]) -> None:
    """Compute ``items`` (text, response) on a Ray actor pool; each actor runs ``rows_fn`` (the
    engine's :func:`~cg_gov.engine._activations.item_rows`) on its batches. ``on_batch(positions,
    n_tokens, mean, max)`` receives each finished batch (positions index ``items``; mean and max are
    (b, C) CSR) as it arrives, in no particular order."""
    import scipy.sparse as sp

    ray = require_ray()
    if not items:
        return
    started = _connect(ray, settings)
    try:
        rows = [{"pos": i, "text": t, "response": r or "", "has_response": r is not None}
                for i, (t, r) in enumerate(items)]
        if all(r is None for _t, r in items):
            rows = [{"pos": i, "text": t} for i, (t, _r) in enumerate(items)]
        per_batch = settings.batch_size
        ds = ray.data.from_items(rows, override_num_blocks=max(1, -(-len(rows) // per_batch)))
        # the model in each actor: no copies of loaded weights travel
        light = dataclasses.replace(dictionary, reference=None, _models={}, _saes={})
        threads = max(1, int(settings.ray.cpus_per_actor))
        ds = ds.map_batches(_Actor, batch_size=per_batch, batch_format="numpy",
                            compute=ray.data.ActorPoolStrategy(size=settings.ray.actors),
                            fn_constructor_kwargs={"dictionary": light, "settings": settings,
                                                   "threads": threads, "rows_fn": rows_fn},
                            num_cpus=settings.ray.cpus_per_actor,
                            num_gpus=settings.ray.gpus_per_actor or None)
        n_concepts = dictionary.n_concepts
        for out in ds.iter_batches(batch_size=None, batch_format="numpy"):
            pos = [int(p) for p in out["pos"]]
            b = len(pos)
            indices = [np.frombuffer(x, dtype=np.int32) for x in out["indices"]]
            means = [np.frombuffer(x, dtype=np.float32) for x in out["abar"]]
            maxes = [np.frombuffer(x, dtype=np.float32) for x in out["max"]]
            indptr = np.concatenate([[0], np.cumsum([len(x) for x in indices])]).astype(np.int64)

            def cat(parts, dt):
                return np.concatenate(parts) if parts else np.zeros(0, dt)

            ind = cat(indices, np.int32)
            mean = sp.csr_matrix((cat(means, np.float32), ind, indptr), shape=(b, n_concepts))
            mx = sp.csr_matrix((cat(maxes, np.float32), ind.copy(), indptr.copy()), shape=(b, n_concepts))
            on_batch(pos, np.asarray(out["n_tokens"], dtype=np.int64), mean, mx)
    except MissingDependencyError:
        raise
    except Exception as exc:  # noqa: BLE001 - Ray wraps actor failures in many types
        if isinstance(exc, CgGovError):
            raise
        raise CgGovError(f"the Ray extraction failed: {type(exc).__name__}: {exc}", key="extraction.executor",
                         hint="the activations finished so far are cached; run again to resume, or use "
                              "executor: local") from exc
    finally:
        if started:
            ray.shutdown()
