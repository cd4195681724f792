"""The examples run and do what they say."""
from pathlib import Path

from conftest import load_script

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name):
    return load_script(EXAMPLES / f"{name}.py")


def test_augment_dataset_example(capsys):
    load("augment_dataset").main(epochs=2, n_points=600)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("epoch ") for line in lines)
    assert any("1" in line.split("anomalous [")[1].split("]")[0] for line in lines)
    assert lines[:2] != lines[2:]  # a new epoch draws new defects
