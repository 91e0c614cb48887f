"""Dataset adapters end to end on tiny fake copies of every dataset in its real on-disk layout."""

from __future__ import annotations

import io
import json
import pickle
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio
from PIL import Image

from seabench.data import DATASETS, get_dataset
from seabench.data.voc import CLASSES as VOC_CLASSES
from seabench.errors import DataNotFoundError, SeabenchError


@cache
def jpeg(shade: int, mode: str = "RGB") -> bytes:
    """An 8x8 JPEG (encoded once per shade and mode; files are written as bytes)."""
    buf = io.BytesIO()
    color = shade if mode == "L" else (shade, 255 - shade, (3 * shade) % 256)
    Image.new(mode, (8, 8), color).save(buf, "JPEG")
    return buf.getvalue()


def put(path: Path, shade: int = 0, mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jpeg(shade % 256, mode))


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def lines(rows) -> str:
    return "".join(f"{r}\n" for r in rows)


# --- fake copies, in the layouts torchvision (and the original distributions) use -------------


def fake_cifar10(root: Path) -> None:
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (10, 3072), dtype=np.uint8)
        with open(d / name, "wb") as f:
            pickle.dump({"data": data, "labels": list(range(10)), "batch_label": name}, f)
    with open(d / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)


def fake_cifar100(root: Path) -> None:
    d = root / "cifar-100-python"
    d.mkdir(parents=True)
    for name, per in (("train", 3), ("test", 1)):
        labels = [c for c in range(100) for _ in range(per)]
        data = np.full((len(labels), 3072), 7, dtype=np.uint8)
        with open(d / name, "wb") as f:
            pickle.dump(
                {"data": data, "fine_labels": labels, "coarse_labels": [c // 5 for c in labels]}, f
            )


def fake_aircraft(root: Path) -> None:
    d = root / "fgvc-aircraft-2013b" / "data"
    variants = [f"Model {i}-{i % 7}/B" for i in range(100)]  # spaces and slashes, as in reality
    write(d / "variants.txt", lines(variants))
    write(d / "families.txt", lines(f"Family {i}" for i in range(10)))
    n = 0
    for s in ("train", "val", "test"):
        rows, fam = [], []
        for c, v in enumerate(variants):
            image_id = f"{1000000 + n:07d}"
            put(d / "images" / f"{image_id}.jpg", n)
            rows.append(f"{image_id} {v}")
            fam.append(f"{image_id} Family {c % 10}")
            n += 1
        write(d / f"images_variant_{s}.txt", lines(rows))
        write(d / f"images_family_{s}.txt", lines(fam))
    write(
        d / "images_variant_trainval.txt",
        (d / "images_variant_train.txt").read_text() + (d / "images_variant_val.txt").read_text(),
    )


def fake_caltech101(root: Path, per_class: tuple[int, ...] = (31, 33, 35)) -> None:
    d = root / "caltech101" / "101_ObjectCategories"
    names = ["BACKGROUND_Google", "Faces", "Faces_easy"] + [f"object_{i:03d}" for i in range(99)]
    for c, name in enumerate(names):
        n = per_class[c % len(per_class)]
        for i in range(1, n + 1):
            put(d / name / f"image_{i:04d}.jpg", c + i, "L" if i % 4 == 0 else "RGB")


def fake_cars(root: Path) -> None:
    d = root / "stanford_cars"
    (d / "devkit").mkdir(parents=True)
    names = np.empty((1, 196), dtype=object)
    names[0, :] = [f"Make {i} Model 2012" for i in range(196)]
    sio.savemat(d / "devkit" / "cars_meta.mat", {"class_names": names})
    for split, per, mat in (
        ("train", 2, d / "devkit" / "cars_train_annos.mat"),
        ("test", 1, d / "cars_test_annos_withlabels.mat"),
    ):
        labels = [c for c in range(196) for _ in range(per)]
        ann = np.zeros(
            (1, len(labels)),
            dtype=[
                (k, "O") for k in ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname")
            ],
        )
        for i, c in enumerate(labels):
            fname = f"{i + 1:05d}.jpg"
            put(d / f"cars_{split}" / fname, i)
            ann[0, i] = (
                np.array([[1]]),
                np.array([[1]]),
                np.array([[7]]),
                np.array([[7]]),
                np.array([[c + 1]], dtype=np.uint8),
                np.array([fname]),
            )
        sio.savemat(mat, {"annotations": ann})


def fake_dtd(root: Path) -> None:
    d = root / "dtd" / "dtd"
    classes = [f"texture{i:02d}" for i in range(47)]
    for p in range(1, 3):  # two partitions, different assignments: only partition 1 is read
        for k, s in enumerate(("train", "val", "test")):
            rows = [f"{c}/{c}_{(k + p - 1) % 3 + 1:04d}.jpg" for c in classes]
            write(d / "labels" / f"{s}{p}.txt", lines(rows))
    for c in classes:
        for i in range(1, 4):
            put(d / "images" / c / f"{c}_{i:04d}.jpg", i)


def fake_flowers(root: Path) -> None:
    d = root / "flowers-102"
    labels = [c for c in range(1, 103) for _ in range(3)]  # 1-based, 3 images per class
    for i in range(1, len(labels) + 1):
        put(d / "jpg" / f"image_{i:05d}.jpg", i, "L" if i % 5 == 0 else "RGB")
    sio.savemat(d / "imagelabels.mat", {"labels": np.array([labels])})
    ids = np.arange(1, len(labels) + 1).reshape(102, 3)
    sio.savemat(
        d / "setid.mat", {"trnid": ids[:, :1].T, "valid": ids[:, 1:2].T, "tstid": ids[:, 2:].T}
    )


def fake_food(root: Path) -> None:
    d = root / "food-101"
    classes = [f"dish_{i:03d}" for i in range(101)]
    write(d / "meta" / "classes.txt", lines(classes))
    meta = {"train": {}, "test": {}}
    n = 0
    for c in classes:
        for s, per in (("train", 2), ("test", 1)):
            meta[s][c] = []
            for _ in range(per):
                put(d / "images" / c / f"{n}.jpg", n)
                meta[s][c].append(f"{c}/{n}")
                n += 1
    for s in meta:
        write(d / "meta" / f"{s}.json", json.dumps(meta[s]))


def fake_pets(root: Path) -> None:
    d = root / "oxford-iiit-pet"
    breeds = [("Abyssinian", 1)] + [(f"breed_{i:02d}", 1 + i % 2) for i in range(1, 37)]
    rows = {"trainval": [], "test": []}
    for c, (breed, species) in enumerate(breeds):
        for i, s in enumerate(("trainval", "trainval", "test")):
            put(d / "images" / f"{breed}_{i + 1}.jpg", c)
            rows[s].append(f"{breed}_{i + 1} {c + 1} {species} 1")
    for s, r in rows.items():
        write(d / "annotations" / f"{s}.txt", lines(r))


SUN_CLASSES = ["/b/bakery/shop"] + [f"/{chr(97 + i % 26)}/scene_{i:03d}" for i in range(1, 397)]


def fake_sun397(root: Path) -> None:
    d = root / "SUN397"
    write(d / "ClassName.txt", lines(SUN_CLASSES))
    train, test = [], []
    for c, cls in enumerate(SUN_CLASSES):
        for i in range(4):  # image 3 is in no partition-01 list
            rel = f"{cls}/sun_{c:03d}{i}.jpg"
            put(d / rel.lstrip("/"), c)
            (train if i < 2 else test if i == 2 else []).append(rel)
    write(d / "Partitions" / "Training_01.txt", lines(train))
    write(d / "Partitions" / "Testing_01.txt", lines(test))
    write(d / "Partitions" / "Training_02.txt", lines(test + train[:1]))


def fake_voc2007(root: Path) -> dict[str, dict[str, dict[str, int]]]:
    """Per split, 21 images: image j < 20 has class j (1) and class j+1 difficult (0); image 20
    has only a difficult class 0.  Returns the flags written."""
    d = root / "VOCdevkit" / "VOC2007"
    flags = {}
    n = 0
    for s in ("train", "val", "test"):
        ids = [f"{n + j:06d}" for j in range(21)]
        n += 21
        flags[s] = {}
        for j, image_id in enumerate(ids):
            put(d / "JPEGImages" / f"{image_id}.jpg", j)
            f = dict.fromkeys(VOC_CLASSES, -1)
            if j < 20:
                f[VOC_CLASSES[j]] = 1
                f[VOC_CLASSES[(j + 1) % 20]] = 0
            else:
                f[VOC_CLASSES[0]] = 0
            flags[s][image_id] = f
            objects = "".join(
                f"<object><name>{c}</name><difficult>{int(v == 0)}</difficult></object>"
                for c, v in f.items()
                if v >= 0
            )
            write(
                d / "Annotations" / f"{image_id}.xml",
                f"<annotation><filename>{image_id}.jpg</filename>{objects}</annotation>",
            )
        write(d / "ImageSets" / "Main" / f"{s}.txt", lines(ids))
        for c in VOC_CLASSES:
            write(
                d / "ImageSets" / "Main" / f"{c}_{s}.txt",
                lines(f"{i} {flags[s][i][c]:2d}" for i in ids),
            )
    return flags


def fake_mit67(root: Path) -> None:
    d = root / "mit67"
    train, test = [], []
    for c in range(67):
        for i in range(3):
            rel = f"room_{c:02d}/img_{i}.jpg"
            put(d / "Images" / rel, c)
            (test if i == 2 else train).append(rel)
    write(d / "TrainImages.txt", lines(train))
    write(d / "TestImages.txt", lines(test))


def fake_folders(path: Path, classes=("ant", "bee", "cat"), splits=None) -> Path:
    splits = splits or {"train": 5, "test": 2}
    for s, per in splits.items():
        for c, name in enumerate(classes):
            for i in range(per):
                put(path / s / name / f"{s}_{i}.jpg", 40 * c + 10 * i, "L" if i == 0 else "RGB")
    return path


FAKES = {
    "aircraft": fake_aircraft,
    "caltech101": fake_caltech101,
    "cars": fake_cars,
    "cifar10": fake_cifar10,
    "cifar100": fake_cifar100,
    "dtd": fake_dtd,
    "flowers": fake_flowers,
    "food": fake_food,
    "pets": fake_pets,
    "sun397": fake_sun397,
    "voc2007": fake_voc2007,
    "mit67": fake_mit67,
}

# (train, val, test) counts the fakes must give, and the metric each dataset is scored with
EXPECTED = {
    "aircraft": ((100, 100, 100), "mean_per_class"),
    # class sizes cycle 31, 33, 35 over the 102 classes: 34 classes of each
    "caltech101": ((24 * 102, 6 * 102, 34 * (31 + 33 + 35) - 30 * 102), "mean_per_class"),
    "cars": ((196, 196, 196), "top1"),
    "cifar10": ((40, 10, 10), "top1"),
    "cifar100": ((200, 100, 100), "top1"),
    "dtd": ((47, 47, 47), "top1"),
    "flowers": ((102, 102, 102), "mean_per_class"),
    "food": ((101, 101, 101), "top1"),
    "pets": ((37, 37, 37), "mean_per_class"),
    "sun397": ((397, 397, 397), "top1"),
    "voc2007": ((21, 21, 21), "map11"),
    "mit67": ((67, 67, 67), "top1"),
}


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory) -> Path:
    """One data root holding a fake copy of every dataset (built once for the module)."""
    root = tmp_path_factory.mktemp("data")
    for make in FAKES.values():
        make(root)
    return root


def test_every_required_dataset_is_registered():
    assert set(FAKES) <= set(DATASETS)


@pytest.mark.parametrize("name", sorted(FAKES))
def test_adapter_reads_its_real_layout(fake_root, name):
    adapter = get_dataset(name, fake_root)
    assert adapter.is_available()
    m = adapter.manifest()  # runs SplitManifest.check(): no duplicates, overlaps, missing classes
    counts, metric = EXPECTED[name]
    assert (m.counts()["train"], m.counts()["val"], m.counts()["test"]) == counts
    assert adapter.metric == metric
    assert m.num_classes == adapter.num_classes
    assert m.multilabel == (name == "voc2007")
    for split in ("train", "val", "test"):
        labels = np.asarray(m.labels(split))
        if m.multilabel:
            assert labels.shape == (len(labels), 20) and set(np.unique(labels)) <= {0, 1}
        else:
            assert labels.min() >= 0 and labels.max() < m.num_classes
            assert len(set(labels.tolist())) == m.num_classes  # every class in every split
        for item in m.items(split)[:3] + m.items(split)[-3:]:
            image = adapter.open(item)
            assert image.mode == "RGB" and image.size[0] > 0
    # the manifest is a pure function of the files: a fresh adapter builds the same one
    assert get_dataset(name, fake_root).manifest().hash == m.hash


def test_official_and_holdout_val_sources(fake_root):
    official = {n for n in FAKES if DATASETS[n].val_source == "official"}
    assert official == {"aircraft", "dtd", "flowers", "voc2007"}
    m = get_dataset("food", fake_root).manifest()
    assert m.notes["holdout_seed"] == 0 and m.val_source == "holdout20"


def test_caltech101_protocol(fake_root):
    m = get_dataset("caltech101", fake_root).manifest()
    classes = sorted(p.name for p in (fake_root / "caltech101/101_ObjectCategories").iterdir())
    assert classes.index("BACKGROUND_Google") == 0 and m.num_classes == 102
    train = m.items("train") + m.items("val")
    labels = m.labels("train") + m.labels("val")
    assert len(train) == len(set(train)) == 30 * 102
    assert np.bincount(labels, minlength=102).tolist() == [30] * 102  # 30 per class, background too
    assert np.bincount(m.labels("val"), minlength=102).tolist() == [6] * 102
    per_class = [31, 33, 35]
    assert np.bincount(m.labels("test")).tolist() == [per_class[c % 3] - 30 for c in range(102)]
    assert not set(train) & set(m.items("test"))
    # every image of a class is in exactly one split, under its own class folder
    for item, label in zip(train + m.items("test"), labels + m.labels("test"), strict=True):
        assert item.split("/")[1] == classes[label]
    # the draw is stable: a second build gives the same 30 per class
    again = get_dataset("caltech101", fake_root).manifest()
    assert again.items("train") == m.items("train") and again.items("test") == m.items("test")
    # grey images come back as RGB (torchvision returns them as they are)
    grey = next(i for i in m.items("test") + train if i.endswith("0004.jpg"))
    assert Image.open(fake_root / "caltech101" / grey).mode == "L"
    assert get_dataset("caltech101", fake_root).open(grey).mode == "RGB"


def test_caltech101_draw_does_not_depend_on_other_classes(tmp_path, fake_root):
    fake_caltech101(tmp_path, per_class=(31, 40, 35))  # every other class has other sizes
    a = get_dataset("caltech101", fake_root).manifest()
    b = get_dataset("caltech101", tmp_path).manifest()
    # object_000 has 31 images in both copies; classes before and after it differ in size
    first = [i for i in a.items("train") + a.items("val") if "/object_000/" in i]
    second = [i for i in b.items("train") + b.items("val") if "/object_000/" in i]
    assert sorted(first) == sorted(second) and len(first) == 30


def test_caltech101_class_too_small(tmp_path):
    fake_caltech101(tmp_path, per_class=(31, 30, 35))
    with pytest.raises(SeabenchError, match="has 30 images; the protocol needs more than 30"):
        get_dataset("caltech101", tmp_path).manifest()


def test_sun397_partition_01(fake_root):
    m = get_dataset("sun397", fake_root).manifest()
    parts = fake_root / "SUN397" / "Partitions"
    listed_train = {line.lstrip("/") for line in (parts / "Training_01.txt").read_text().split()}
    listed_test = {line.lstrip("/") for line in (parts / "Testing_01.txt").read_text().split()}
    assert set(m.items("train")) | set(m.items("val")) == listed_train
    assert set(m.items("test")) == listed_test
    on_disk = {
        p.relative_to(fake_root / "SUN397").as_posix()
        for p in (fake_root / "SUN397").rglob("sun_*.jpg")
    }
    assert len(on_disk) == 4 * 397 and len(listed_train | listed_test) == 3 * 397
    # a nested class ("/b/bakery/shop") is one class, the first line of ClassName.txt
    i = m.items("test").index("b/bakery/shop/sun_0002.jpg")
    assert m.labels("test")[i] == 0


def test_voc2007_multi_hot_difficult_is_negative(fake_root):
    m = get_dataset("voc2007", fake_root).manifest()
    main = fake_root / "VOCdevkit/VOC2007/ImageSets/Main"
    for split in ("train", "val", "test"):
        ids = (main / f"{split}.txt").read_text().split()
        assert m.items(split) == [f"JPEGImages/{i}.jpg" for i in ids]
        y = np.asarray(m.labels(split))
        assert y.shape == (21, 20)
        assert (y[:20] == np.eye(20, dtype=int)).all()  # the difficult class j+1 is negative
        assert y[20].sum() == 0  # only a difficult object: all negative, image kept
        # the files really mark those as difficult (0), not absent (-1)
        row = (main / f"{VOC_CLASSES[1]}_{split}.txt").read_text().split("\n")[0].split()
        assert row == [ids[0], "0"]


def test_aircraft_variant_level(fake_root):
    m = get_dataset("aircraft", fake_root).manifest()
    data = fake_root / "fgvc-aircraft-2013b" / "data"
    variants = (data / "variants.txt").read_text().splitlines()
    for split in ("train", "val", "test"):
        rows = (data / f"images_variant_{split}.txt").read_text().splitlines()
        expected = {
            f"data/images/{r.split(' ', 1)[0]}.jpg": variants.index(r.split(" ", 1)[1])
            for r in rows
        }
        assert dict(zip(m.items(split), m.labels(split), strict=True)) == expected
    assert m.notes["annotation_level"] == "variant" and m.num_classes == 100


def test_flowers_labels_and_official_splits(fake_root):
    m = get_dataset("flowers", fake_root).manifest()
    # image i (1-based) is class (i - 1) // 3; trnid holds the first image of each class
    assert m.items("train")[:2] == ["jpg/image_00001.jpg", "jpg/image_00004.jpg"]
    assert m.labels("train")[:2] == [0, 1] and m.labels("test")[-1] == 101
    assert m.items("val")[0] == "jpg/image_00002.jpg"


def test_cars_labels_from_annotations(fake_root):
    m = get_dataset("cars", fake_root).manifest()
    got = dict(zip(m.items("test"), m.labels("test"), strict=True))
    assert got["cars_test/00001.jpg"] == 0 and got["cars_test/00196.jpg"] == 195
    assert all(i.startswith("cars_train/") for i in m.items("train") + m.items("val"))


def test_dtd_partition_1_only(fake_root):
    m = get_dataset("dtd", fake_root).manifest()
    assert m.items("train")[0] == "images/texture00/texture00_0001.jpg"
    assert m.items("test")[0] == "images/texture00/texture00_0003.jpg"
    assert m.labels("test")[-1] == 46


def test_cifar_pixels_and_labels(fake_root):
    a = get_dataset("cifar10", fake_root)
    m = a.manifest()
    with open(fake_root / "cifar-10-batches-py" / "test_batch", "rb") as f:
        batch = pickle.load(f)
    img = a.open("test/00003")
    assert img.mode == "RGB" and img.size == (32, 32)
    expected = batch["data"][3].reshape(3, 32, 32).transpose(1, 2, 0)
    assert (np.asarray(img) == expected).all()
    assert m.labels("test") == batch["labels"]
    assert len(set(m.items("train")) | set(m.items("val"))) == 50


def test_mit67_imagefolder_layout(tmp_path):
    d = tmp_path / "mit67"
    fake_folders(
        d, classes=[f"room{c:02d}" for c in range(67)], splits={"train": 2, "val": 1, "test": 1}
    )
    a = get_dataset("mit67", tmp_path)
    m = a.manifest()
    assert m.counts() == {"train": 134, "val": 67, "test": 67} and m.val_source == "official"
    assert a.open(m.items("train")[0]).mode == "RGB"


# --- integrity: planted errors are caught ---------------------------------------------------


def copy_tree(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_planted_duplicate_is_caught(tmp_path, fake_root):
    copy_tree(fake_root / "VOCdevkit", tmp_path / "VOCdevkit")
    main = tmp_path / "VOCdevkit/VOC2007/ImageSets/Main"
    ids = (main / "train.txt").read_text().split()
    (main / "train.txt").write_text(lines(ids + ids[:1]))
    with pytest.raises(SeabenchError, match="appears twice"):
        get_dataset("voc2007", tmp_path).manifest()


def test_planted_train_test_overlap_is_caught(tmp_path, fake_root):
    copy_tree(fake_root / "flowers-102", tmp_path / "flowers-102")
    setid = sio.loadmat(tmp_path / "flowers-102/setid.mat")
    setid["tstid"][0, 0] = setid["trnid"][0, 0]  # the first training image is also a test image
    sio.savemat(
        tmp_path / "flowers-102/setid.mat", {k: setid[k] for k in ("trnid", "valid", "tstid")}
    )
    with pytest.raises(SeabenchError, match="both train and test"):
        get_dataset("flowers", tmp_path).manifest()


def test_planted_sun397_overlap_is_caught(tmp_path, fake_root):
    copy_tree(fake_root / "SUN397", tmp_path / "SUN397")
    parts = tmp_path / "SUN397/Partitions"
    first = (parts / "Training_01.txt").read_text().split()[0]
    with open(parts / "Testing_01.txt", "a") as f:
        f.write(first + "\n")
    with pytest.raises(SeabenchError, match="splits must not overlap"):
        get_dataset("sun397", tmp_path).manifest()


def test_missing_image_file_is_named(tmp_path, fake_root):
    copy_tree(fake_root / "oxford-iiit-pet", tmp_path / "oxford-iiit-pet")
    a = get_dataset("pets", tmp_path)
    item = a.manifest().items("test")[0]
    (tmp_path / "oxford-iiit-pet" / item).unlink()
    with pytest.raises(DataNotFoundError, match=item.split("/")[-1]):
        a.open(item)


# --- missing data -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FAKES))
def test_missing_dataset_names_the_layout(tmp_path, name):
    adapter = get_dataset(name, tmp_path)
    assert not adapter.is_available()
    with pytest.raises(DataNotFoundError) as exc:
        adapter.manifest()
    msg = str(exc.value)
    assert "\n" not in msg and str(tmp_path) in msg
    assert adapter.layout in msg and adapter.layout.split("/")[0] in msg
    assert ("--download" in msg) == adapter.downloadable


@pytest.mark.parametrize("name", ["cars", "sun397"])
def test_undownloadable_dataset_says_so(tmp_path, name):
    with pytest.raises(DataNotFoundError, match="cannot be downloaded automatically; place"):
        get_dataset(name, tmp_path, download=True).manifest()


def test_sun397_without_partition_files(tmp_path, fake_root):
    copy_tree(fake_root / "SUN397", tmp_path / "SUN397")
    import shutil

    shutil.rmtree(tmp_path / "SUN397" / "Partitions")
    with pytest.raises(DataNotFoundError, match="Training_01.txt"):
        get_dataset("sun397", tmp_path).manifest()


# --- imagefolder:PATH ---------------------------------------------------------------------


def test_imagefolder_without_val_holds_out_20_percent(tmp_path):
    path = fake_folders(tmp_path / "bugs")
    a = get_dataset(f"imagefolder:{path}", tmp_path / "unused")
    m = a.manifest()
    assert a.name == f"imagefolder:{path}" and m.num_classes == 3
    assert m.counts() == {"train": 12, "val": 3, "test": 6} and m.val_source == "holdout20"
    assert sorted(set(m.labels("val"))) == [0, 1, 2]  # stratified: one per class
    assert m.items("test")[0] == "test/ant/test_0.jpg" and m.labels("test")[-1] == 2
    assert a.open(m.items("test")[0]).mode == "RGB"  # a grey JPEG
    assert get_dataset(f"imagefolder:{path}").manifest().hash == m.hash


def test_imagefolder_with_val_and_relative_to_data_root(tmp_path):
    fake_folders(tmp_path / "root" / "birds", splits={"train": 2, "val": 1, "test": 1})
    a = get_dataset("imagefolder:birds", tmp_path / "root")
    m = a.manifest()
    assert m.counts() == {"train": 6, "val": 3, "test": 3} and m.val_source == "official"


def test_imagefolder_errors(tmp_path):
    with pytest.raises(DataNotFoundError, match="must hold train/<class>"):
        get_dataset(f"imagefolder:{tmp_path / 'nowhere'}").manifest()
    path = fake_folders(tmp_path / "odd")
    put(path / "test" / "dog" / "x.jpg")
    with pytest.raises(SeabenchError, match="dog is a class that train/ does not have"):
        get_dataset(f"imagefolder:{path}").manifest()
    path = fake_folders(tmp_path / "gap")
    for f in (path / "test" / "bee").iterdir():
        f.unlink()
    with pytest.raises(SeabenchError, match="bee"):
        get_dataset(f"imagefolder:{path}").manifest()


# --- --download goes through torchvision (replaced here: no network in tests) ---------------


def test_download_fetches_with_torchvision_then_reads(tmp_path, monkeypatch):
    import torchvision.datasets

    calls = []

    def fake_flowers102(root, download=False, **kwargs):
        calls.append((root, download))
        fake_flowers(Path(root))

    monkeypatch.setattr(torchvision.datasets, "Flowers102", fake_flowers102)
    m = get_dataset("flowers", tmp_path, download=True).manifest()
    assert calls == [(str(tmp_path), True)] and m.counts()["test"] == 102
    get_dataset("flowers", tmp_path, download=True).manifest()  # present: no second download
    assert len(calls) == 1


def test_failed_download_says_what_to_place(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise OSError("no route to host")

    monkeypatch.setattr(torchvision.datasets, "Food101", offline)
    with pytest.raises(
        DataNotFoundError,
        match=r"downloading food failed .*no route.* place "
        r"food-101/\{images",
    ):
        get_dataset("food", tmp_path, download=True).manifest()
