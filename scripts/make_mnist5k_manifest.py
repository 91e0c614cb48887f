"""Draw the shipped mnist5k split once.  Maintainers only: the manifest is committed."""

from pathlib import Path

from seabench.data.mnist5k import draw_manifest, load_digits

if __name__ == "__main__":
    _, labels = load_digits()
    manifest = draw_manifest(labels)
    print(manifest.check(), manifest.hash)
    manifest.save(Path(__file__).resolve().parents[1] / "seabench/data/manifests/mnist5k.json")
