"""The task catalog: which harness (and so which image) runs a task, and on which endpoint type.

The data is nemo-evaluator-launcher 0.2.6's published catalog (``data/catalog.json``, made by
``scripts/make_catalog.py``; see ``data/CATALOG_NOTICE.md``) plus evalcompose's built-in
harness (``evalcompose_bench``, built from ``compose-templates/images/harness``).

How a task name resolves (the rule users see in ``evalcompose ls tasks`` and on dry run):

1. ``harness.task`` names one task exactly.
2. A bare name that one harness has is that task.
3. A bare name several harnesses have keeps the ones serving the wanted endpoint type: the task's
   ``endpoint_type`` if set, else the type the target URL ends in (``/chat/completions`` is chat,
   ``/completions`` is completions, ``/embeddings`` is embedding); with a co-deployed model, which
   serves every type, chat. One left: that task, and the choice is printed. Several left: an
   error listing them as ``harness.task``.
4. A bare name the catalog split by endpoint type (``mbpp`` -> ``mbpp-chat``, ``mbpp-completions``)
   resolves as ``<name>-<type>`` or ``<name>_<type>`` under the same rule.
5. A task the catalog does not list still runs, as in the launcher, with a minimal definition
   (:meth:`Catalog.resolve_for_run`): with an explicit ``container:``, or as ``harness.task`` of a
   known harness (its image holds more tasks than the catalog lists), unless the name is one slip
   from a listed task of that harness (``mmlu_por``: "did you mean"). Its endpoint type is the
   task's ``endpoint_type``, else the target URL's, else chat. A note says so.

A chat URL serves ``vlm`` tasks too (images travel in chat messages); embedding tasks need a URL
ending in ``/embeddings``.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .errors import ConfigError, TaskNotFound
from .images import BUILTIN_HARNESS, BUILTIN_TASKS, HARNESS_IMAGE

DATA = Path(__file__).parent / "data" / "catalog.json"
TYPO_CUTOFF = 0.85  # difflib ratio: mmlu_por vs mmlu_pro is 0.875, mmlu_it vs mmlu_de 0.71
URL_SUFFIXES = (("/chat/completions", "chat"), ("/completions", "completions"), ("/embeddings", "embedding"))
ENDPOINT_PATHS = {"chat": "/v1/chat/completions", "completions": "/v1/completions",
                  "embedding": "/v1/embeddings", "vlm": "/v1/chat/completions"}



@dataclass(frozen=True)
class CatalogTask:
    """One task of one harness."""

    name: str
    harness: str
    image: str
    endpoint_types: tuple[str, ...]
    description: str = ""
    pypi_package: str | None = None
    default_parallelism: int | None = None  # config.params.parallelism the harness uses when none is set

    @property
    def qualified(self) -> str:
        return f"{self.harness}.{self.name}"


@dataclass(frozen=True)
class Resolved:
    """A task chosen for a config entry, with the note to print when the choice was not literal."""

    task: CatalogTask
    note: str | None


class Catalog:
    """All known tasks, looked up by ``harness.task`` and by bare name."""

    def __init__(self, tasks: list[CatalogTask], source: dict):
        self.tasks = tasks
        self.source = source
        self.by_qualified = {t.qualified: t for t in tasks}
        self.by_name: dict[str, list[CatalogTask]] = {}
        for t in tasks:
            self.by_name.setdefault(t.name, []).append(t)
        self.harnesses = sorted({t.harness for t in tasks})

    def resolve(self, name: str, wanted: str | None, key: str, prefer: str | None = None) -> Resolved:
        """Apply the rule in the module docstring; ``key`` is the config key path for errors.

        ``prefer`` breaks ties when nothing says which endpoint type is wanted (a co-deployed
        server serves every type, so its tasks prefer the chat variant).
        """
        if name in self.by_qualified:
            return Resolved(self.by_qualified[name], None)
        harness, dot, short = name.rpartition(".")
        if dot and harness in self.harnesses:
            close = difflib.get_close_matches(name, list(self.by_qualified), n=1)
            raise TaskNotFound(key, f"harness {harness} has no task '{short}'",
                               hint=f"did you mean '{close[0]}'?" if close else f"see: evalcompose ls tasks {harness}")
        candidates = self.by_name.get(name, [])
        renamed = not candidates
        if renamed:  # seed names that the catalog splits by endpoint type: mbpp -> mbpp-chat
            kinds = [wanted or prefer] if wanted or prefer else ["chat", "completions"]
            candidates = [t for k in kinds for sep in "-_" for t in self.by_name.get(f"{name}{sep}{k}", [])]
        if not candidates:
            close = difflib.get_close_matches(name, list(self.by_name) + list(self.by_qualified), n=1)
            raise TaskNotFound(key, f"unknown task '{name}'",
                               hint=f"did you mean '{close[0]}'?" if close else "list tasks with: evalcompose ls tasks")
        if len(candidates) == 1:
            note = f"{key}: '{name}' is {candidates[0].qualified} (renamed in the catalog)" if renamed else None
            return Resolved(candidates[0], note)
        kind = wanted or prefer
        fitting = [t for t in candidates if serves(kind, t)] if kind else candidates
        if len(fitting) == 1:
            why = f"the {kind} variant" + ("" if wanted else "; set endpoint_type to choose another")
            return Resolved(fitting[0], f"{key}: '{name}' is {fitting[0].qualified} ({why})")
        listed = ", ".join(f"{t.qualified} ({'/'.join(t.endpoint_types)})" for t in (fitting or candidates))
        why = "the target URL does not tell the endpoint type" if not wanted else f"more than one serves {wanted}"
        raise TaskNotFound(key, f"task '{name}' is in several harnesses and {why}: {listed}",
                           hint="write the full harness.task name")

    def resolve_for_run(self, name: str, wanted: str | None, key: str, container: str | None = None,
                        prefer: str | None = None) -> Resolved:
        """:meth:`resolve`, plus rule 5: an unlisted task with a container or a known harness runs."""
        try:
            return self.resolve(name, wanted, key, prefer)
        except TaskNotFound as exc:
            harness, dot, short = name.rpartition(".")
            known = dot and harness in self.harnesses
            if not container and (not known or self._looks_like_typo(harness, short)):
                raise
            kind = wanted or prefer or "chat"
            image = container or next(t.image for t in self.tasks if t.harness == harness)
            task = CatalogTask(short if dot else name, harness if dot else "custom", image, (kind,),
                               pypi_package=next((t.pypi_package for t in self.tasks if t.harness == harness), None))
            why = exc.hint if exc.hint and exc.hint.startswith("did you mean") else ""
            return Resolved(task, f"{key}: '{name}' is not in the catalog: it runs with a minimal definition in "
                                  f"{image} on the {kind} endpoint{f' ({why})' if why else ''}")

    def _looks_like_typo(self, harness: str, short: str) -> bool:
        """A name one slip away from a listed task of the harness (mmlu_por) is a typo, not an unlisted task."""
        names = [t.name for t in self.tasks if t.harness == harness]
        return bool(difflib.get_close_matches(short, names, n=1, cutoff=TYPO_CUTOFF))

    def search(self, text: str | None) -> list[CatalogTask]:
        """Tasks whose qualified name or description contains ``text`` (all when empty)."""
        if not text:
            return list(self.tasks)
        needle = text.lower()
        return [t for t in self.tasks if needle in t.qualified.lower() or needle in t.description.lower()]


@cache
def load_catalog() -> Catalog:
    """The catalog, read once per process."""
    data = json.loads(DATA.read_text(encoding="utf-8"))
    harnesses = data["harnesses"]
    tasks = [CatalogTask(name=t["name"], harness=t["harness"], image=harnesses[t["harness"]]["image"],
                         endpoint_types=tuple(t["endpoint_types"]), description=t.get("description") or "",
                         pypi_package=harnesses[t["harness"]].get("pypi_package"),
                         default_parallelism=(t.get("defaults") or {}).get("parallelism"))
             for t in data["tasks"]]
    tasks += [CatalogTask(name, BUILTIN_HARNESS, HARNESS_IMAGE, (kind,),
                          f"Built-in: generated arithmetic questions on the {kind} endpoint (no downloads).")
              for name, kind in BUILTIN_TASKS.items()]
    return Catalog(tasks, data.get("source", {}))


def endpoint_type_of_url(url: str | None) -> str | None:
    """``.../v1/chat/completions`` -> chat, ``.../v1/completions`` -> completions, else None."""
    if not url:
        return None
    path = url.split("?", 1)[0].rstrip("/")
    for suffix, kind in URL_SUFFIXES:
        if path.endswith(suffix):
            return kind
    return None


def serves(wanted: str, task: CatalogTask) -> bool:
    """True when an endpoint of type ``wanted`` can run ``task`` (a chat URL serves vlm tasks)."""
    return wanted in task.endpoint_types or (wanted == "chat" and "vlm" in task.endpoint_types)


def check_endpoint(task: CatalogTask, wanted: str | None, key: str) -> str:
    """The endpoint type the task runs with; an error when the target cannot serve it."""
    if wanted is None:
        return task.endpoint_types[0]
    if wanted == "chat" and wanted not in task.endpoint_types and "vlm" in task.endpoint_types:
        return "vlm"
    if wanted not in task.endpoint_types:
        need = task.endpoint_types[0]
        raise ConfigError(key, f"task {task.qualified} needs a {need} endpoint, the target serves {wanted}",
                          hint=f"point target.api_endpoint.url at a URL ending in {ENDPOINT_PATHS[need]}")
    return wanted
