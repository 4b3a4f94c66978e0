"""Field descriptions from the models' attribute docstrings, read only when the docs are generated.

pydantic's `use_attribute_docstrings` reads every model's source at import time (inspect.getmodule scans
all of sys.modules for each class): a third of the cost of importing the recipe models, paid by every
`invoke check` and `invoke bake` for text only `invoke docs` shows. So the models leave it off, and the
schema generator calls `attach_field_docs` first.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import sys
import textwrap

from pydantic import BaseModel


def attribute_docstrings(cls: type) -> dict[str, str]:
    """{attribute: docstring} for `name: T [= ...]` statements followed by a string literal in cls's body."""
    module = sys.modules.get(cls.__module__)
    if module is None or module.__file__ is None:
        return {}
    tree = ast.parse(inspect.getsource(module))
    body = next((node.body for node in ast.walk(tree)
                 if isinstance(node, ast.ClassDef) and node.name == cls.__name__), [])
    docs: dict[str, str] = {}
    for statement, following in itertools.pairwise(body):
        if (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            docs[statement.target.id] = inspect.cleandoc(textwrap.dedent(following.value.value))
    return docs


def attach_field_docs(models: list[type[BaseModel]]) -> None:
    """Give each field its attribute docstring and rebuild the models' schemas, innermost first (a model's
    schema embeds a copy of its fields' models'). No field sets description= itself."""
    for model in reversed(models):
        changed = False
        for klass in reversed(model.__mro__):  # a subclass's docstring wins over its base's
            if not (isinstance(klass, type) and issubclass(klass, BaseModel)) or klass is BaseModel:
                continue
            for name, doc in attribute_docstrings(klass).items():
                info = model.model_fields.get(name)
                if info is not None and info.description != doc:
                    info.description = doc
                    changed = True
        if changed:
            model.model_rebuild(force=True)

