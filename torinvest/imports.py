"""Third-party import work that buys torinvest nothing, put off until it is used
(:func:`defer_iri_grammars`, run as the package is imported).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

#: Builds 38 lark grammars (Earley parsers of RFC 3987) as it is imported.
IRI_SYNTAX = "rfc3987_syntax"

_loading = threading.Lock()


def defer_iri_grammars() -> None:
    """Put off ``rfc3987_syntax``'s import until it is used.

    jsonschema imports it, when installed, for its ``iri`` and ``iri-reference`` format
    checks (``jsonschema[format-nongpl]``, which jupyterlab's jupyter-events asks for), and the
    module builds its grammars as it is imported: 1.2 s of CPU in every process that imports
    nbformat — papermill and nbconvert do, and so does plotly (``plotly.io``): each report's
    kernel, each ``investigate``. torinvest checks no such format. Until it is first used, a
    stand-in module holds its place: its ``is_valid_syntax`` (the name jsonschema takes) and any
    other name imports the real module then and answers with it, so a format check answers as
    it would have. Nothing is done when the module is not installed or already imported, or
    when jsonschema already is (it took the real one).
    """
    if IRI_SYNTAX in sys.modules or "jsonschema" in sys.modules:
        return
    try:
        spec = importlib.util.find_spec(IRI_SYNTAX)
    except (ImportError, ValueError):
        return
    if spec is None:
        return
    stand_in = types.ModuleType(IRI_SYNTAX, f"Stands in for {IRI_SYNTAX} until it is used.")
    stand_in.__spec__ = spec
    if spec.submodule_search_locations is not None:  # a package: its submodules import as such
        stand_in.__path__ = list(spec.submodule_search_locations)

    loaded: list[types.ModuleType] = []

    def real() -> types.ModuleType:
        if loaded:
            return loaded[0]
        with _loading:
            if not loaded:
                if sys.modules.get(IRI_SYNTAX) is stand_in:
                    del sys.modules[IRI_SYNTAX]
                module = importlib.import_module(IRI_SYNTAX)
                for name, sub in list(sys.modules.items()):  # imported through the stand-in
                    child = name.removeprefix(IRI_SYNTAX + ".")
                    if child != name and "." not in child and not hasattr(module, child):
                        setattr(module, child, sub)
                loaded.append(module)
        return loaded[0]

    def is_valid_syntax(*args: Any, **kwargs: Any) -> Any:
        return real().is_valid_syntax(*args, **kwargs)

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):  # probes such as inspect's __file__: the stand-in has none
            raise AttributeError(name)
        return getattr(real(), name)

    stand_in.is_valid_syntax = is_valid_syntax  # type: ignore[attr-defined]
    stand_in.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[IRI_SYNTAX] = stand_in
