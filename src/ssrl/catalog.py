"""The built-in pretext methods' catalogue, read from the ``@register(...)`` lines of their files
in ``ssrl/pretext/`` without importing them: ``ssrl methods`` answers without loading torch.
``tests/pretext/test_methods.py`` checks that it equals the registry's ``list_methods()``."""

import ast
import importlib.util
from pathlib import Path


def built_in_methods() -> list[dict[str, str]]:
    """One row per built-in method, by name: name, family, modality, paper."""
    package = Path(importlib.util.find_spec("ssrl.pretext").origin).parent  # found, not imported
    rows = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for call in getattr(node, "decorator_list", ()):
                if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "register":
                    given = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
                    rows.append({"name": ast.literal_eval(call.args[0]), "family": given["family"],
                                 "modality": given["modality"], "paper": given["paper"]})
    return sorted(rows, key=lambda row: row["name"])
