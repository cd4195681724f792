"""Parameters read from the constructor's signature, as scikit-learn's ``BaseEstimator`` does.

A class that mixes in :class:`ParamsMixin` declares its parameters once, as the parameters of
its ``__init__``, and stores each one under an attribute of the same name (the validated value).
Then ``get_params()`` returns them in signature order, ``type(obj)(**obj.get_params())``
rebuilds an equal object, and ``repr(obj)`` shows the parameters that differ from their
defaults. A constructor that takes ``*args`` or ``**kwargs`` hides its parameters: the class is
refused (``TypeError``) when it is defined.

Foundation layer: imports the standard library only.
"""
from __future__ import annotations

import inspect
from typing import Any

_STARS = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**",
          inspect.Parameter.POSITIONAL_ONLY: ""}


def _init_parameters(cls: type) -> list[inspect.Parameter]:
    """The parameters of ``cls.__init__`` (without ``self``); ``TypeError`` naming the class
    when one is ``*args``/``**kwargs`` or positional-only."""
    init = cls.__init__  # type: ignore[misc]  # the class's own constructor, on purpose
    if init is object.__init__:
        return []
    params = list(inspect.signature(init).parameters.values())[1:]
    for p in params:
        if p.kind in _STARS:
            raise TypeError(
                f"{cls.__module__}.{cls.__qualname__}.__init__ takes {_STARS[p.kind]}{p.name}: "
                "list every parameter explicitly (get_params reads them from the constructor's "
                "signature)")
    return params


def _same(value: Any, default: Any) -> bool:
    """A parameter equal to its default (a list equals the tuple default it was given as)."""
    if isinstance(value, (list, tuple)) and isinstance(default, (list, tuple)):
        return list(value) == list(default)
    try:
        return bool(value == default) and isinstance(value, bool) == isinstance(default, bool)
    except (TypeError, ValueError):
        return False


class ParamsMixin:
    """``get_params()`` and ``repr`` from the parameters of ``type(self).__init__``.

    Each constructor must store every argument as ``self.<name>`` (its validated value, which
    the constructor accepts again: saved files and results store ``get_params()`` as JSON).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _init_parameters(cls)  # refuse *args/**kwargs when the class is defined

    @classmethod
    def param_names(cls) -> list[str]:
        """Names of the constructor parameters, in signature order."""
        return [p.name for p in _init_parameters(cls)]

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters, as a dict that ``type(self)(**params)`` accepts."""
        out = {}
        for name in self.param_names():
            try:
                out[name] = getattr(self, name)
            except AttributeError:
                raise AttributeError(
                    f"{type(self).__qualname__} does not store its parameter {name!r} as "
                    f"self.{name}; every constructor argument must be kept under its name"
                ) from None
        return out

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in _init_parameters(type(self))}
        shown = [f"{k}={v!r}" for k, v in self.get_params().items()
                 if defaults[k] is inspect.Parameter.empty or not _same(v, defaults[k])]
        return f"{type(self).__name__}({', '.join(shown)})"
