"""Models: what is known (catalog), what is installed (repository), and how it gets there.

- :mod:`.catalog`    packaged list of PaddleOCR models and their dictionaries
- :mod:`.repository` ``<root>/<name>/<version>/`` folders with a manifest each
- :mod:`.download`   resumable downloads, safe tar extraction, ``pull`` and ``import_path``
- :mod:`.defaults`   the default set, taken from files in PyPI wheels
- :mod:`.cli`        the ``ocr-models`` command
"""

from ocrserve.models.catalog import (
    CatalogEntry,
    dictionary_lines,
    dictionary_path,
    get_entry,
    load_catalog,
    rec_num_classes,
)
from ocrserve.models.repository import InstalledModel, ModelRepository, default_root

__all__ = [
    "CatalogEntry",
    "InstalledModel",
    "ModelRepository",
    "default_root",
    "dictionary_lines",
    "dictionary_path",
    "get_entry",
    "load_catalog",
    "rec_num_classes",
]
