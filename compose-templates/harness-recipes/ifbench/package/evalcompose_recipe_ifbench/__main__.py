"""Build step: ``python3 -m evalcompose_recipe_ifbench WHEELHOUSE [NLTK_DATA_DIR]``.

Unpacks ``llama_index/core/_static/nltk_cache/`` (NLTK's ``punkt_tab`` and ``stopwords``, as
zips and unpacked) from the llama-index-core wheel found in WHEELHOUSE into NLTK_DATA_DIR
(default ``/usr/local/share/nltk_data``), then checks NLTK finds both.
"""

import sys
import zipfile
from pathlib import Path

PREFIX = "llama_index/core/_static/nltk_cache/"
NEEDED = ("tokenizers/punkt_tab", "corpora/stopwords")


def main(argv: list[str]) -> int:
    wheelhouse = Path(argv[0])
    dest = Path(argv[1] if len(argv) > 1 else "/usr/local/share/nltk_data")
    wheels = sorted(wheelhouse.glob("llama_index_core-*.whl"))
    if not wheels:
        print(f"no llama_index_core wheel in {wheelhouse}", file=sys.stderr)
        return 1
    count = 0
    with zipfile.ZipFile(wheels[-1]) as wheel:
        for member in wheel.namelist():
            if member.startswith(PREFIX) and not member.endswith("/") and not member.endswith(".gitignore"):
                target = dest / member[len(PREFIX):]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(wheel.read(member))
                count += 1
    import nltk

    for resource in NEEDED:
        nltk.data.find(resource, paths=[str(dest)])
    print(f"[evalcompose offline recipe] {count} NLTK data files in {dest}: {', '.join(NEEDED)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
