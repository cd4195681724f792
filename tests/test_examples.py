"""The examples run and do what they say."""
import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_augment_dataset_example(capsys):
    load("augment_dataset").main(epochs=2, n_points=600)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("epoch ") for line in lines)
    assert any("1" in line.split("anomalous [")[1].split("]")[0] for line in lines)
    assert lines[:2] != lines[2:]  # a new epoch draws new defects
