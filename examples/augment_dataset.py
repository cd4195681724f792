"""Train-time augmentation: turn a dataset of normal clouds into a stream of synthetic anomalies.

    .venv/bin/python examples/augment_dataset.py

Each epoch draws fresh defects (``set_epoch``); the same seed and epoch give the same batch.
"""
from torch.utils.data import DataLoader

from pointad.samples import sample_cloud
from pointad.synthesis import PNAS, PNASAugment


def main(epochs: int = 2, n_points: int = 2048):
    # Any indexable dataset of normal clouds works: arrays, Clouds, dicts or (points, normals).
    normal_clouds = [sample_cloud(name, n_points=n_points, seed=i)
                     for i, name in enumerate(["flange", "sphere", "box", "cylinder"] * 2)]
    synth = PNAS(fraction=0.03, strength=0.02, sign="mixed", octaves=4)
    dataset = PNASAugment(normal_clouds, synth, probability=0.5, seed=0)
    loader = DataLoader(dataset, batch_size=4, shuffle=False)
    for epoch in range(epochs):
        dataset.set_epoch(epoch)
        for batch in loader:
            frac = batch["labels"].float().mean(dim=1)
            print(f"epoch {epoch}: objects anomalous {batch['label'].int().tolist()}, "
                  f"anomalous point fraction {[round(f, 3) for f in frac.tolist()]}")


if __name__ == "__main__":
    main()
