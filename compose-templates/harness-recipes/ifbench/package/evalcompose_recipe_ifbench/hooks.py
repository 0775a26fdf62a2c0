"""Start-up hook: make ``spacy.cli.download`` a no-op once ``spacy.cli`` is imported.

Cheap on purpose (it runs at every interpreter start): it only puts a finder on ``sys.meta_path``
that waits for ``spacy.cli``; nothing is imported until some code imports spaCy itself.
"""

import importlib.abc
import importlib.machinery
import sys

TARGET = "spacy.cli"


def _no_download(model: str = "", *args, **kwargs) -> None:
    print(f"[evalcompose offline recipe] spacy download of {model!r} skipped (no network; "
          "IFBench does not load it)", file=sys.stderr)


class _SpacyCliFinder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the real loader of ``spacy.cli`` to patch the module after it runs."""

    def find_spec(self, fullname, path, target=None):
        if fullname != TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        real_exec = spec.loader.exec_module

        def exec_module(module):
            real_exec(module)
            module.download = _no_download

        spec.loader.exec_module = exec_module
        return spec


if not any(isinstance(f, _SpacyCliFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _SpacyCliFinder())
