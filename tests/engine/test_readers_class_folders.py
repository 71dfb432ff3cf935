"""Class folders (IMDB layout): one example per .txt file, labelled by its folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.engine.data.class_folders import read_class_folders
from workbench.errors import UserError


def make(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_each_txt_file_is_one_example_labelled_by_its_folder(tmp_path):
    root = make(
        tmp_path / "train",
        {
            "pos/0_9.txt": "A lovely film.\n",
            "pos/1_8.txt": "Très bien !",
            "neg/2_1.txt": "Dull.",
            "neg/notes.md": "not an example",
            "labeledBow.feat": "0 0:1",
            "urls_pos.txt": "http://example.com",
            "unsup/3_0.txt": "no label here",
            ".cache/x.txt": "hidden",
            "images/cover.png": "",
        },
    )
    frame = read_class_folders(root)
    assert list(frame.columns) == ["text", "label"]
    assert frame.values.tolist() == [
        ["Dull.", "neg"],
        ["A lovely film.", "pos"],
        ["Très bien !", "pos"],
    ]


def test_a_file_instead_of_a_folder_explains_the_layout(tmp_path):
    file = make(tmp_path, {"a.txt": "x"}) / "a.txt"
    with pytest.raises(UserError, match="is not a folder.*train/pos/\\*.txt"):
        read_class_folders(file)


def test_no_sub_folders(tmp_path):
    root = make(tmp_path / "train", {"a.txt": "x"})
    with pytest.raises(UserError, match="has no sub-folders"):
        read_class_folders(root)


def test_no_txt_files(tmp_path):
    root = make(tmp_path / "train", {"pos/a.md": "x", "neg/b.csv": "y"})
    with pytest.raises(UserError, match=r"no \.txt files in the sub-folders .*\(neg, pos\)"):
        read_class_folders(root)


def test_one_class_only_suggests_the_folder_above(tmp_path):
    root = make(tmp_path / "train", {"pos/a.txt": "x", "neg/b.md": "y"})
    with pytest.raises(UserError, match=r"one class only \(pos\).*folder above"):
        read_class_folders(root)


def test_a_file_that_is_not_utf8_is_named(tmp_path):
    root = make(tmp_path / "train", {"pos/a.txt": "x"})
    (root / "neg").mkdir()
    (root / "neg" / "b.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(UserError, match=r"b\.txt: it is not UTF-8"):
        read_class_folders(root)
