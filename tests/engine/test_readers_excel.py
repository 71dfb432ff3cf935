"""Excel workbooks through the optional openpyxl, with a clear message when it is missing."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

from workbench.engine.data.excel import read_excel
from workbench.errors import UserError

pytest.importorskip("openpyxl")


@pytest.fixture
def workbook(tmp_path):
    path = tmp_path / "reviews.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame({"review": ["lovely café", "dull"], "stars": [5, 1]}).to_excel(
            writer, sheet_name="train", index=False
        )
        pd.DataFrame({"review": ["ok"], "stars": [3]}).to_excel(
            writer, sheet_name="test", index=False
        )
    return path


def test_the_first_sheet_is_read_with_its_header(workbook):
    frame = read_excel(workbook)
    assert list(frame.columns) == ["review", "stars"]
    assert frame["review"].tolist() == ["lovely café", "dull"]
    assert frame["stars"].tolist() == [5, 1]


def test_another_sheet_by_name(workbook):
    assert read_excel(workbook, sheet="test")["review"].tolist() == ["ok"]


def test_an_unknown_sheet_says_to_check_the_name(workbook):
    with pytest.raises(UserError, match="sheet 'dev' of reviews.xlsx.*check the sheet name"):
        read_excel(workbook, sheet="dev")


def test_missing_openpyxl_says_how_to_install_it(workbook, monkeypatch):
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # makes `import openpyxl` fail
    with pytest.raises(
        UserError, match=r"needs the optional package openpyxl.*pip install openpyxl"
    ):
        read_excel(workbook)


def test_a_file_that_is_not_a_workbook(tmp_path):
    path = tmp_path / "fake.xlsx"
    path.write_text("text,label\n", encoding="utf-8")
    with pytest.raises(UserError, match="cannot read fake.xlsx as .xlsx"):
        read_excel(path)


def test_old_xls_files_are_refused_with_a_fix(tmp_path):
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(UserError, match="save it as .xlsx or .csv"):
        read_excel(path)


def test_an_empty_sheet_is_refused(tmp_path):
    path = tmp_path / "empty.xlsx"
    pd.DataFrame({"text": []}).to_excel(path, index=False, engine="openpyxl")
    with pytest.raises(UserError, match="has no rows"):
        read_excel(path)
