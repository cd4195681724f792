"""One way to name things a user picks by name: detectors, dataset formats, backbones.

A :class:`Registry` maps names to objects (classes or factories) of one kind. Built-in names map
to the module that defines them and that module is imported on first use, so listing the names
(``pnas --help``) imports nothing heavy. A module adds its objects with the ``register``
decorator; ``get(name)`` returns one, or raises :class:`~pointad.errors.InputError` naming the
kind and listing the available names.

    DETECTORS = Registry("detector", builtin={"raw": "pointad.detectors.raw"})

    @DETECTORS.register                 # under cls.name
    class Raw(Detector):
        name = "raw"

Foundation layer: imports the standard library and :mod:`pointad.errors` only.
"""
from __future__ import annotations

import importlib

from pointad.errors import InputError


class Registry:
    """Names -> objects of one ``kind`` ("detector", "dataset format", "backbone").

    Args:
        kind: what the names name, for error messages ("unknown detector 'x'; available: ...").
        builtin: built-in name -> the module that registers it, imported by :meth:`get` on first
            use of the name.
        name_attr: the attribute :meth:`register` reads the name from when none is given.
    """

    def __init__(self, kind: str, builtin: dict | None = None, *, name_attr: str = "name"):
        self.kind = kind
        self.builtin = dict(builtin or {})
        self.name_attr = name_attr
        self._entries: dict = {}

    def register(self, obj=None, *, name: str | None = None):
        """Decorator adding ``obj`` under ``name`` (default: its ``name_attr`` attribute).

        ``@reg.register`` or ``@reg.register(name="x")``; returns ``obj`` unchanged. A name
        registered again is replaced (a user's class may shadow a built-in one).
        """
        def add(item):
            key = name if name is not None else getattr(item, self.name_attr, None)
            if not isinstance(key, str) or not key:
                raise TypeError(f"a {self.kind} needs a non-empty string name to be registered "
                                f"(got {key!r} for {item!r})")
            self._entries[key] = item
            return item

        return add if obj is None else add(obj)

    def names(self) -> list[str]:
        """Built-in names (in their order), then the other registered names; imports nothing."""
        return list(self.builtin) + [n for n in self._entries if n not in self.builtin]

    def get(self, name):
        """The object registered as ``name`` (its built-in module imported when needed)."""
        if isinstance(name, str) and name not in self._entries and name in self.builtin:
            importlib.import_module(self.builtin[name])
        try:
            return self._entries[name]
        except (KeyError, TypeError):  # TypeError: an unhashable "name"
            raise self.unknown(name) from None

    def create(self, name, **params):
        """A new ``name`` made with ``params`` (a class: its constructor validates them); an
        unknown keyword is an :class:`InputError` naming the kind and the name."""
        factory = self.get(name)
        try:
            return factory(**params)
        except TypeError as exc:  # an unknown keyword: name it without a traceback
            raise InputError(f"{self.kind} {name!r}: {exc}") from None

    def unknown(self, name) -> InputError:
        """The error for a name that is not registered: names it and lists the available ones."""
        return InputError(f"unknown {self.kind} {name!r}; available: "
                          f"{', '.join(self.names()) or '(none)'}")

    __getitem__ = get

    def __contains__(self, name) -> bool:
        return isinstance(name, str) and (name in self._entries or name in self.builtin)

    def __iter__(self):
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()!r})"
