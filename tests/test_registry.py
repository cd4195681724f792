"""The one registry class behind detectors, dataset formats and backbones."""
import subprocess
import sys

import pytest

from pointad.errors import InputError
from pointad.registry import Registry


def test_register_get_and_names():
    reg = Registry("widget", {"json": "json"})
    assert reg.names() == ["json"] and "json" in reg and "x" not in reg

    @reg.register
    class Small:
        name = "small"

    @reg.register(name="big")
    def make_big():
        return "big"

    assert reg.get("small") is Small and reg["big"] is make_big
    assert list(reg) == ["json", "small", "big"] and len(reg) == 3
    with pytest.raises(InputError, match=r"unknown widget 'nope'; available: json, small, big"):
        reg.get("nope")
    with pytest.raises(InputError, match="unknown widget"):
        reg.get(["unhashable"])
    with pytest.raises(TypeError, match="name"):
        reg.register(object())


def test_builtin_module_is_imported_on_first_use():
    """Listing names imports nothing; the first ``get`` of a built-in name imports its module,
    which registers the object."""
    code = ("import sys; from pointad.detectors.registry import DETECTORS; DETECTORS.names(); "
            "before = 'pointad.detectors.raw' in sys.modules; cls = DETECTORS.get('raw'); "
            "print(before, 'pointad.detectors.raw' in sys.modules, cls.name)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "raw"]


def test_the_three_registries_use_it():
    from pointad.backbones import BACKBONES, available_backbones
    from pointad.datasets import DATASETS
    from pointad.detectors.registry import DETECTORS
    for reg in (BACKBONES, DATASETS, DETECTORS):
        assert isinstance(reg, Registry)
    assert available_backbones() == BACKBONES.names()
    assert DETECTORS.get("raw").name == "raw"
    assert DATASETS.get("mvtec3d").format_name == "mvtec3d"
    with pytest.raises(InputError, match="unknown dataset format 'nope'"):
        DATASETS.get("nope")
