"""Dataset folders as users unpack them by hand: the archives' own folder names, mirrors'
nesting, separate downloads in either place; what is missing is named; partial copies are said."""

from __future__ import annotations

import shutil
import tarfile

import pytest
from click.testing import CliRunner
from test_datasets import FAKES, fake_caltech101, fake_cars, fake_dtd, fake_folders, fake_food

from seabench.cli import cli
from seabench.data import get_dataset
from seabench.data.base import ALIASES, DATASETS
from seabench.errors import DataNotFoundError, SeabenchError


def test_dtd_as_the_archive_unpacks_it_gives_torchvisions_manifest(tmp_path):
    fake_dtd(tmp_path / "tv")
    archive = tmp_path / "archive"
    shutil.copytree(tmp_path / "tv" / "dtd" / "dtd", archive / "dtd")  # dtd/{images,labels}
    a, b = get_dataset("dtd", tmp_path / "tv"), get_dataset("dtd", archive)
    assert b.base == archive / "dtd"
    assert a.manifest().hash == b.manifest().hash
    assert b.open(b.manifest().items("test")[0]).mode == "RGB"


def test_caltech_101_folder_name_of_the_current_archive(tmp_path):
    fake_caltech101(tmp_path / "tv")
    shutil.move(tmp_path / "tv" / "caltech101", tmp_path / "caltech-101")
    a = get_dataset("caltech101", tmp_path)
    assert a.manifest().counts()["train"] == 24 * 102


def test_caltech_101_still_packed_says_unpack_it(tmp_path):
    (tmp_path / "caltech-101").mkdir()
    with tarfile.open(tmp_path / "caltech-101" / "101_ObjectCategories.tar.gz", "w:gz"):
        pass
    with pytest.raises(DataNotFoundError) as err:
        get_dataset("caltech101", tmp_path).manifest()
    msg = str(err.value)
    assert str(tmp_path / "caltech-101" / "101_ObjectCategories") + " is missing" in msg
    assert "still packed: unpack it" in msg


def test_cars_from_the_kaggle_mirror_with_test_labels_in_devkit(tmp_path):
    fake_cars(tmp_path / "tv")
    ref = get_dataset("cars", tmp_path / "tv").manifest()
    d = tmp_path / "kaggle" / "stanford_cars"
    shutil.copytree(tmp_path / "tv" / "stanford_cars" / "devkit", d / "devkit")
    for split in ("train", "test"):  # Kaggle: cars_train/cars_train/*.jpg
        shutil.copytree(
            tmp_path / "tv" / "stanford_cars" / f"cars_{split}",
            d / f"cars_{split}" / f"cars_{split}",
        )
    shutil.copy(
        tmp_path / "tv" / "stanford_cars" / "cars_test_annos_withlabels.mat",
        d / "devkit" / "cars_test_annos_withlabels.mat",
    )
    a = get_dataset("cars", tmp_path / "kaggle")
    m = a.manifest()
    assert m.counts() == ref.counts() and m.labels("test") == ref.labels("test")
    assert m.items("test")[0] == "cars_test/cars_test/00001.jpg"
    assert a.open(m.items("test")[0]).mode == "RGB"


def test_cars_without_the_labelled_test_annotations_names_the_file(tmp_path):
    fake_cars(tmp_path)
    (tmp_path / "stanford_cars" / "cars_test_annos_withlabels.mat").unlink()
    with pytest.raises(DataNotFoundError) as err:
        get_dataset("cars", tmp_path).manifest()
    msg = str(err.value)
    missing = tmp_path / "stanford_cars" / "cars_test_annos_withlabels.mat"
    assert f"{missing} is missing" in msg and "not part of the devkit" in msg
    assert "devkit's cars_test_annos_withlabels" not in msg and "\n" not in msg


@pytest.mark.parametrize("name", sorted(FAKES))
def test_not_found_names_the_first_missing_path(tmp_path, name):
    with pytest.raises(DataNotFoundError) as err:  # nothing there: the dataset's folder
        get_dataset(name, tmp_path).manifest()
    adapter = get_dataset(name, tmp_path)
    top = (tmp_path / adapter.folder.split("/")[0]) if hasattr(adapter, "folder") else None
    assert f"{top} is missing" in str(err.value)
    FAKES[name](tmp_path)
    required = getattr(adapter, "required", ())
    if not required:
        return
    req = required[-1]
    alternatives = (req,) if isinstance(req, str) else req
    for rel in alternatives:  # remove it from every place it may be
        p = adapter.base / rel
        shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    victim = adapter.base / alternatives[0]
    with pytest.raises(DataNotFoundError) as err:
        get_dataset(name, tmp_path).manifest()
    assert f"{victim} is missing" in str(err.value)


def test_a_partial_copy_says_it_looks_incomplete_and_where_classes_go(tmp_path):
    fake_food(tmp_path)
    shutil.rmtree(tmp_path / "food-101" / "images" / "dish_007")
    with pytest.raises(SeabenchError) as err:
        get_dataset("food", tmp_path).manifest()
    msg = str(err.value)
    assert "looks incomplete" in msg and str(tmp_path / "food-101" / "images") in msg
    assert "dish_007" in msg

    fake_dtd(tmp_path)
    shutil.rmtree(tmp_path / "dtd" / "dtd" / "images" / "texture03")
    with pytest.raises(SeabenchError, match="looks incomplete.*46 class folders.*images"):
        get_dataset("dtd", tmp_path).manifest()

    path = fake_folders(tmp_path / "bugs")
    for f in (path / "test" / "bee").iterdir():
        f.unlink()
    with pytest.raises(SeabenchError, match=r"looks incomplete.*bee.*test"):
        get_dataset(f"imagefolder:{path}", tmp_path).manifest()


def test_literature_names_are_aliases(tmp_path):
    fake_food(tmp_path)
    a = get_dataset("food101", tmp_path)
    assert a.name == "food" and a.manifest().counts()["test"] == 101
    assert all(target in DATASETS for target in ALIASES.values())
    for alias in ("flowers102", "stanford_cars", "Caltech-101", "fgvc_aircraft", "pets37"):
        assert get_dataset(alias, tmp_path).name in DATASETS


def test_datasets_command_shows_what_goes_where_without_a_flag(tmp_path):
    out = CliRunner().invoke(
        cli, ["datasets", "--data-root", str(tmp_path)], env={"COLUMNS": "400"}
    )
    assert out.exit_code == 0, out.output
    assert "what goes where" in out.output and "caltech-101/" in out.output
    text = "".join(ln.split("│")[-2].strip() for ln in out.output.splitlines() if "│" in ln)
    text = text.replace(" ", "")
    assert "cars_test_annos_withlabels.mat" in text and "dtd/{images/<class>" in text
