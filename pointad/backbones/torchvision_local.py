"""torchvision and timm backbones from a local weights file (never downloaded).

``torchvision:<arch>`` builds ``torchvision.models.<arch>(weights=None)`` and loads the user's
state dict; the outputs are the named modules' outputs (forward hooks). ``timm:<arch>`` builds
``timm.create_model(arch, pretrained=False, features_only=True)`` and loads the state dict into
it. Either way the input is depth, nx, ny as an ImageNet image.
"""
from __future__ import annotations

import torch

from pointad.backbones.base import FeatureExtractor, imagenet_input
from pointad.backbones.efficientnet_lite import load_state_dict
from pointad.backbones.registry import ARCH, BACKBONES
from pointad.errors import InputError

LIBRARIES = ("torchvision", "timm")
# Default outputs at strides 4, 8, 16 (UniAD's stage outputs; PatchCore uses the last two).
_TORCHVISION_LAYERS = {
    "resnet": ["layer1", "layer2", "layer3"],
    "wide_resnet": ["layer1", "layer2", "layer3"],
    "resnext": ["layer1", "layer2", "layer3"],
    "efficientnet_b": ["features.2", "features.3", "features.5"],
}
_TIMM_INDICES = (1, 2, 3)
_PROBE = 64  # side of the blank image that measures channels and strides


class _Stop(Exception):
    """Ends a forward pass once the last requested layer has run."""


def _import(library: str):
    try:
        return __import__(library)
    except Exception as exc:  # ImportError, or a broken build failing at import (e.g. its ops)
        raise InputError(f"{library} backbones need {library} installed and importable beside "
                         f"this torch ({torch.__version__}): {exc}".splitlines()[0]) from None


class LocalWeightsExtractor(FeatureExtractor):
    """A torchvision or timm network with weights from ``weights`` (a local state dict file).

    ``layers``: torchvision module names (default by family: ``resnet*``, ``wide_resnet*``,
    ``resnext*`` -> layer1-3; ``efficientnet_b*`` -> features.2, .3, .5), or timm ``out_indices``
    (default 1, 2, 3). Channels and strides are measured on a blank image.
    """

    def __init__(self, library: str, arch: str, weights, layers=None):
        super().__init__()
        if library not in LIBRARIES:
            raise InputError(f"library must be one of {', '.join(LIBRARIES)}; got {library!r}")
        self.name = f"{library}:{arch}"
        if weights is None:
            raise InputError(f"the {self.name} backbone needs weights=PATH, a local state dict "
                             "file (nothing is downloaded)")
        state = load_state_dict(weights)
        lib = _import(library)
        self.library = library
        self.layers: list = []  # torchvision: module names; timm: out_indices
        if library == "torchvision":
            self._build_torchvision(lib, arch, state, layers)
        else:
            self._build_timm(lib, arch, state, layers)
        self.weights_path = str(weights)
        self.freeze()                    # before the probe: BatchNorm must not update its stats
        with torch.no_grad():
            probe = self._run(torch.zeros(1, 3, _PROBE, _PROBE))
        self.channels = [int(m.shape[1]) for m in probe]
        self.strides = [int(round(_PROBE / m.shape[-1])) for m in probe]

    def _build_torchvision(self, tv, arch, state, layers):
        factory = getattr(tv.models, arch, None)
        if not callable(factory) or arch.startswith("_"):
            raise InputError(f"torchvision.models has no architecture {arch!r}")
        model = factory(weights=None)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise InputError(f"the weights do not fit torchvision {arch}: "
                             f"{str(exc).splitlines()[0]}") from None
        if layers is None:
            family = next((f for f in _TORCHVISION_LAYERS if arch.startswith(f)), None)
            if family is None:
                raise InputError(f"no default layers for torchvision {arch}: pass layers=[module "
                                 "names] (e.g. ['layer2', 'layer3'])")
            layers = _TORCHVISION_LAYERS[family]
        self.layers = [str(n) for n in layers]
        for n in self.layers:
            try:
                model.get_submodule(n)
            except AttributeError:
                raise InputError(f"torchvision {arch} has no module {n!r}") from None
        self.model = model

    def _build_timm(self, timm, arch, state, layers):
        indices = tuple(_TIMM_INDICES if layers is None else (int(i) for i in layers))
        try:
            model = timm.create_model(arch, pretrained=False, features_only=True,
                                      out_indices=indices)
        except Exception as exc:  # unknown name, bad indices
            raise InputError(f"timm cannot build {arch} with out_indices {indices}: {exc}"
                             .splitlines()[0]) from None
        result = model.load_state_dict(state, strict=False)
        if result.missing_keys:   # unexpected keys are the classifier head features_only drops
            raise InputError(f"the weights do not fit timm {arch}: missing "
                             f"{', '.join(result.missing_keys[:5])}")
        self.layers = list(indices)
        self.model = model

    def _run(self, x):
        if self.library == "timm":
            return list(self.model(x))
        outputs, handles = {}, []
        last = self.layers[-1]

        def hook(name):
            def grab(_module, _inputs, output):
                outputs[name] = output
                if len(outputs) == len(self.layers) and name == last:
                    raise _Stop
            return grab

        for n in self.layers:
            handles.append(self.model.get_submodule(n).register_forward_hook(hook(n)))
        try:
            self.model(x)
        except _Stop:
            pass
        finally:
            for h in handles:
                h.remove()
        missing = [n for n in self.layers if n not in outputs]
        if missing:
            raise InputError(f"{self.name}: modules {missing} did not run in the forward pass")
        return [outputs[n] for n in self.layers]

    def _extract(self, images):
        return self._run(imagenet_input(images))


for _library in LIBRARIES:  # "torchvision:<arch>", "timm:<arch>"
    BACKBONES.register(LocalWeightsExtractor, name=f"{_library}:{ARCH}")
