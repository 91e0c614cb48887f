"""Dataset folders as users unpack them from the archives they can still get, and as partial
copies: each reads, or the error names the first missing file (not only the whole layout).

- Stanford Cars from the Kaggle mirror (the original host is gone): ``cars_train/cars_train/``,
  ``cars_test/cars_test/`` and the devkit as ``car_devkit/devkit/``, with the labelled test
  annotations downloaded separately.
- SUN397 with its images but without the partition files of Partitions.zip.
- Oxford-IIIT Pets, a flat image folder, with one breed's images not copied: said before any
  model loads, not at the first missing image in the middle of an extraction.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from seabench.data import get_dataset
from seabench.errors import DataNotFoundError, SeabenchError


def jpg(path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6), (90, 30, 200)).save(path)


def cars_annotations(n: int, labelled: bool = True) -> np.ndarray:
    fields = [("bbox_x1", "O"), ("bbox_y1", "O"), ("bbox_x2", "O"), ("bbox_y2", "O")]
    fields += [("class", "O")] if labelled else []
    rows = [
        (1, 1, 7, 5, *([i % 196 + 1] if labelled else []), f"{i:05d}.jpg") for i in range(1, n + 1)
    ]
    return np.array(rows, dtype=[*fields, ("fname", "O")])


def kaggle_cars(root, n: int = 392):
    """jessicali9530/stanford-cars-dataset as unzipped, plus cars_test_annos_withlabels.mat."""
    top = root / "stanford_cars"
    for split in ("train", "test"):
        for i in range(1, n + 1):
            jpg(top / f"cars_{split}" / f"cars_{split}" / f"{i:05d}.jpg")
    devkit = top / "car_devkit" / "devkit"
    devkit.mkdir(parents=True)
    savemat(
        devkit / "cars_meta.mat",
        {"class_names": np.array([f"car {i}" for i in range(196)], dtype=object)},
    )
    savemat(devkit / "cars_train_annos.mat", {"annotations": cars_annotations(n)})
    savemat(devkit / "cars_test_annos.mat", {"annotations": cars_annotations(n, labelled=False)})
    savemat(top / "cars_test_annos_withlabels.mat", {"annotations": cars_annotations(n)})
    return top


def test_cars_from_the_kaggle_mirror_reads_its_car_devkit(tmp_path):
    kaggle_cars(tmp_path)
    m = get_dataset("cars", tmp_path).manifest()
    assert m.counts()["test"] == 392 and m.counts()["train"] + m.counts()["val"] == 392
    assert m.items("test")[0] == "cars_test/cars_test/00001.jpg"
    assert sorted(set(m.labels("test"))) == list(range(196))


def test_cars_without_the_kaggle_devkit_names_the_devkit(tmp_path):
    top = kaggle_cars(tmp_path)
    (top / "car_devkit" / "devkit" / "cars_train_annos.mat").unlink()
    with pytest.raises(DataNotFoundError, match="devkit/cars_train_annos.mat is missing"):
        get_dataset("cars", tmp_path).manifest()


def sun397(root, with_partitions: bool = True):
    top = root / "SUN397"
    classes = [f"/{chr(97 + i % 26)}/scene_{i:03d}" for i in range(397)]
    (top).mkdir(parents=True)
    (top / "ClassName.txt").write_text("\n".join(classes) + "\n")
    for c in classes:
        for k in range(2):
            jpg(top / c.lstrip("/") / f"sun_{k}.jpg")
    if with_partitions:
        for name, k in (("Training_01.txt", 0), ("Testing_01.txt", 1)):
            (top / name).write_text("\n".join(f"{c}/sun_{k}.jpg" for c in classes) + "\n")
    return top


def test_sun397_without_its_partition_files_names_the_first(tmp_path):
    top = sun397(tmp_path, with_partitions=False)
    with pytest.raises(DataNotFoundError) as err:
        get_dataset("sun397", tmp_path).manifest()
    msg = str(err.value)
    assert f"{top / 'Training_01.txt'} is missing" in msg and "Partitions.zip" in msg
    (top / "Partitions").mkdir()
    (top / "Partitions" / "Training_01.txt").write_text("/a/scene_000/sun_0.jpg\n")
    with pytest.raises(DataNotFoundError, match="Testing_01.txt is missing"):
        get_dataset("sun397", tmp_path).manifest()


def test_a_flat_image_folder_copied_in_part_is_said_before_extraction(tmp_path):
    top = tmp_path / "oxford-iiit-pet"  # images.tar.gz + annotations.tar.gz unpacked
    trainval, test = [], []
    for breed in range(37):
        for k in range(1, 7):
            name = f"Breed_{breed}_{k}"
            if breed != 5:  # breed 5's images were not copied
                jpg(top / "images" / f"{name}.jpg")
            (trainval if k <= 5 else test).append(f"{name} {breed + 1} {1 + breed % 2} 1")
    (top / "annotations").mkdir()
    (top / "annotations" / "trainval.txt").write_text("\n".join(trainval) + "\n")
    (top / "annotations" / "test.txt").write_text("\n".join(test) + "\n")
    with pytest.raises(SeabenchError) as err:
        get_dataset("pets", tmp_path).manifest()
    msg = str(err.value)
    assert "looks incomplete" in msg and "6 of the 222 images" in msg
    assert str(top / "images" / "Breed_5_1.jpg") in msg


@pytest.mark.parametrize(
    "spelling, name",
    [
        ("food_101", "food"),
        ("Stanford-Cars", "cars"),
        ("oxford_iiit_pet", "pets"),
        ("caltech_101", "caltech101"),
        ("fgvc-aircraft-2013b", "aircraft"),
        ("oxford_flowers_102", "flowers"),
        ("VOC_2007", "voc2007"),
        ("SUN-397", "sun397"),
    ],
)
def test_the_literatures_spellings_name_the_registry_datasets(spelling, name):
    from seabench.data.base import canonical_name

    assert canonical_name(spelling) == name


def test_an_image_folder_without_its_test_split_names_it(tmp_path):
    (tmp_path / "birds" / "train" / "sparrow").mkdir(parents=True)
    jpg(tmp_path / "birds" / "train" / "sparrow" / "1.jpg")
    with pytest.raises(DataNotFoundError, match=f"{tmp_path / 'birds' / 'test'} does not exist"):
        get_dataset(f"imagefolder:{tmp_path / 'birds'}").manifest()


def test_caltech_from_the_current_archive_or_its_inner_tarball_unpacked_in_the_root(tmp_path):
    """caltech-101.zip unpacks to caltech-101/{101_ObjectCategories.tar.gz, ...}; the tarball
    unpacked there, or straight into the data root, gives one and the same manifest."""
    import shutil

    top = tmp_path / "a" / "caltech-101"
    classes = ["BACKGROUND_Google", "Faces", "Faces_easy", *(f"obj_{i:03d}" for i in range(99))]
    for c in classes:
        for i in range(1, 32):
            jpg(top / "101_ObjectCategories" / c / f"image_{i:04d}.jpg")
    (top / "Annotations.tar").write_bytes(b"")
    inside = get_dataset("caltech101", tmp_path / "a").manifest()
    shutil.move(top / "101_ObjectCategories", tmp_path / "b" / "101_ObjectCategories")
    loose = get_dataset("caltech-101", tmp_path / "b").manifest()
    assert loose.hash == inside.hash and loose.counts()["test"] == 102
