"""Tests for categorizer.ingest.data: column specs, reading bank exports, validation and writing.

Amounts are tested in test_amounts.py, deduplication and splits in test_splits.py.
"""

import datetime
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import categorizer.ingest.amounts
import categorizer.ingest.columns
import categorizer.ingest.data
import categorizer.ingest.errors
import categorizer.ingest.readers
import categorizer.ingest.splits
from categorizer.ingest.data import (
    OUTPUT_COLUMNS,
    ColumnSpecError,
    DataError,
    parse_columns,
    read_transactions,
    validate_file,
    write_frame,
)


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# --------------------------------------------------------------------------------------------
# parse_columns


def test_parse_columns() -> None:
    assert parse_columns("description=Memo,amount=Amount") == {
        "description": "Memo",
        "amount": "Amount",
    }
    assert parse_columns(" Description = 'Transaction Details' , debit=Paid out") == {
        "description": "Transaction Details",
        "debit": "Paid out",
    }
    assert parse_columns(None) == {}
    assert parse_columns("") == {}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("memo=Memo", "unknown field 'memo'; valid fields: id, description"),
        ("description", "expected FIELD=COLUMN"),
        ("description=", "expected FIELD=COLUMN"),
        ("amount=A,amount=B", "given twice"),
    ],
)
def test_parse_columns_errors(spec: str, message: str) -> None:
    with pytest.raises(ColumnSpecError, match=message) as info:
        parse_columns(spec)
    assert str(info.value).startswith("--columns: ")
    assert isinstance(info.value, DataError)


# --------------------------------------------------------------------------------------------
# read_transactions / validate_file

GOOD_CSV = """Date,Description,Amount,Currency,MCC,Note
2024-01-05,STARBUCKS STORE 1234 SEATTLE WA,-5.75,usd,5814,a
2024-01-06,"SHELL OIL 57442183, HOUSTON",(42.10),,5541,b

2024-01-09,PAYROLL ACME CORP,"2,500.00",USD,,c
2024-02-01,TESCO STORES 3297,£18.20,GBP,5411,
"""


def test_good_file_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path / "bank.csv", GOOD_CSV)
    report = validate_file(path)
    assert report.rows == 4
    assert report.bad_rows == 0
    assert report.currencies == {"USD": 3, "GBP": 1}
    assert report.date_min == datetime.date(2024, 1, 5)
    assert report.date_max == datetime.date(2024, 2, 1)
    assert report.encoding == "utf-8"
    assert report.mapped_columns["description"] == "Description"
    assert report.rejects_path is None
    as_dict = report.to_dict()
    assert as_dict["date_min"] == "2024-01-05"
    json.dumps(as_dict)


def test_good_file_is_normalised(tmp_path: Path) -> None:
    result = read_transactions(_write(tmp_path / "bank.csv", GOOD_CSV))
    frame = result.frame
    assert tuple(frame.columns[:8]) == OUTPUT_COLUMNS == (
        "id", "description", "amount", "currency", "date", "mcc", "account_type", "direction",
    )  # fmt: skip
    assert frame["id"].tolist() == ["bank-2", "bank-3", "bank-5", "bank-6"]  # physical lines
    assert frame["amount"].tolist() == [-5.75, -42.10, 2500.0, 18.20]
    assert frame["currency"].tolist() == ["USD", "USD", "USD", "GBP"]
    assert frame["mcc"].tolist()[:2] == ["5814", "5541"]
    assert pd.isna(frame["mcc"].iloc[2])
    assert frame["date"].iloc[0] == pd.Timestamp("2024-01-05")
    assert frame["Note"].tolist()[:3] == ["a", "b", "c"]  # unknown columns pass through
    assert result.rejected == 0


def test_missing_description_column_names_file_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "bank.csv", "Date,Amount,Reference\n2024-01-05,-5.00,X\n")
    with pytest.raises(DataError) as info:
        read_transactions(path)
    error = info.value
    assert error.path == path
    assert error.column == "description"
    message = str(error)
    assert str(path) in message
    assert "'description'" in message
    assert "'Date', 'Amount', 'Reference'" in message
    assert "--columns description=<ColumnName>" in message


def test_missing_amount_column_is_optional_when_not_required(tmp_path: Path) -> None:
    path = _write(tmp_path / "bank.csv", "Memo\nSTARBUCKS\n")
    with pytest.raises(DataError, match="missing required column 'amount'"):
        read_transactions(path)
    frame = read_transactions(path, require_amount=False).frame
    assert np.isnan(frame["amount"].iloc[0])


def test_non_numeric_amount_reports_line_and_column(tmp_path: Path) -> None:
    rows = [f"2024-01-0{i},SHOP {i},-{i}.00" for i in range(1, 6)]
    rows.insert(5, "2024-01-07,BAD SHOP,abc")  # line 7: header + 5 good rows before it
    path = _write(tmp_path / "bank.csv", "date,description,amount\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError) as info:
        read_transactions(path)
    assert info.value.line == 7
    assert info.value.column == "amount"
    assert str(info.value) == (
        f"{path}, line 7, column 'amount': expected a number such as -12.50, 1,234.56, "
        "(12.00) or 12.00 CR; got 'abc'"
    )
    with pytest.raises(DataError, match="line 7"):
        validate_file(path)


def test_first_bad_row_wins_and_columns_keep_file_names(tmp_path: Path) -> None:
    text = "Memo,Amount,Posted\nA,1,2024-01-01\nB,2,not a date\n,3,2024-01-01\n"
    path = _write(tmp_path / "bank.csv", text)
    with pytest.raises(DataError) as info:
        read_transactions(path)
    assert (info.value.line, info.value.column, info.value.field) == (3, "Posted", "date")
    assert str(info.value).startswith(f"{path}, line 3, column 'Posted' (date): expected a date")


def test_skip_bad_rows_writes_rejects_and_counts(tmp_path: Path) -> None:
    text = (
        "description,amount,currency,mcc,date\n"
        "GOOD ONE,-1.00,USD,5411,2024-01-01\n"
        "BAD AMOUNT,abc,USD,,\n"
        ",-3.00,USD,,\n"
        "BAD CURRENCY,-4.00,DOLLARS,,\n"
        "BAD MCC,-5.00,USD,541,\n"
        "BAD DATE,-6.00,USD,,2024-13-45\n"
        "HUGE," + "9" * 400 + ",USD,,\n"
        "GOOD TWO,7.00,,,\n"
        "MISSING AMOUNT,,USD,,\n"
    )
    path = _write(tmp_path / "bank.csv", text)
    rejects = tmp_path / "out" / "rejects.csv"
    result = read_transactions(path, skip_bad_rows=True, rejects_path=rejects)
    assert result.frame["description"].tolist() == ["GOOD ONE", "GOOD TWO"]
    assert result.rejected == 7
    assert result.rejects_path == rejects
    written = pd.read_csv(rejects, dtype=str, keep_default_na=False)
    assert written["_line"].tolist() == ["3", "4", "5", "6", "7", "8", "10"]
    assert written["_column"].tolist() == [
        "amount", "description", "currency", "mcc", "date", "amount", "amount",
    ]  # fmt: skip
    assert written["description"].tolist()[0] == "BAD AMOUNT"  # the original row is kept
    assert "missing amount" in written["_error"].iloc[-1]
    report = validate_file(path, skip_bad_rows=True)
    assert (report.rows, report.bad_rows) == (2, 7)
    assert report.rejects_path == tmp_path / "bank.rejects.csv"
    assert report.rejects_path.exists()


def test_latin1_file_is_read(tmp_path: Path) -> None:
    text = "Date;Libellé;Montant\n05/01/2024;CAFÉ DE FLORE;-12,50\n31/01/2024;SALAIRE;2.500,00\n"
    path = _write(tmp_path / "releve.csv", text, encoding="latin-1")
    result = read_transactions(path, columns={"description": "Libellé", "amount": "montant"})
    assert result.encoding == "latin-1"
    assert result.frame["description"].tolist() == ["CAFÉ DE FLORE", "SALAIRE"]
    assert result.frame["amount"].tolist() == [-12.5, 2500.0]
    assert result.frame["date"].tolist() == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-01-31")]
    report = validate_file(path, columns={"description": "Libellé", "amount": "Montant"})
    assert report.encoding == "latin-1"


def test_utf8_bom_and_forced_encoding(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfDescription,Amount\nCAF\xc3\x89,-1\n")
    result = read_transactions(path)
    assert result.encoding == "utf-8-sig"
    assert result.frame["description"].tolist() == ["CAFÉ"]
    bad = _write(tmp_path / "bad.csv", "Description,Amount\nOK,1\n\x80,1\n", "latin-1")
    with pytest.raises(DataError, match="line 3: cannot decode byte 0x80 as utf-8"):
        read_transactions(bad, encoding="utf-8")


def test_column_mapping_and_auto_mapping(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "bank.tsv",
        "Posting Date\tNarrative\tValue\tMerchant\n01/31/2024\tTESCO\t-5\tTesco plc\n",
    )
    result = read_transactions(path)
    assert result.mapped_columns == {
        "description": "Narrative",
        "amount": "Value",
        "date": "Posting Date",
    }
    assert result.frame["Merchant"].tolist() == ["Tesco plc"]
    mapped = read_transactions(path, columns={"description": "merchant"})
    assert mapped.frame["description"].tolist() == ["Tesco plc"]
    assert mapped.frame["Narrative"].tolist() == ["TESCO"]
    with pytest.raises(DataError, match="column 'Memo' \\(given for description\\) not found"):
        read_transactions(path, columns={"description": "Memo"})


def test_debit_and_credit_columns_are_combined(tmp_path: Path) -> None:
    text = (
        "Date,Transaction Description,Paid out,Paid in,Balance\n"
        "05/01/2024,TESCO STORES,£18.20,,100.00\n"
        '13/01/2024,SALARY,,"£1,100.00",1200.00\n'
        "14/01/2024,NOTHING,,,1200.00\n"
    )
    path = _write(tmp_path / "uk.csv", text)
    with pytest.raises(DataError) as info:
        read_transactions(path)
    assert (info.value.line, info.value.column) == (4, "Paid out")
    result = read_transactions(path, skip_bad_rows=True)
    assert result.mapped_columns["debit"] == "Paid out"
    assert result.mapped_columns["credit"] == "Paid in"
    assert result.frame["amount"].tolist() == [-18.2, 1100.0]
    assert result.frame["date"].dt.day.tolist() == [5, 13]  # day-first inferred from 13/01
    assert result.frame["Balance"].tolist() == ["100.00", "1200.00"]


def test_user_mapped_debit_credit(tmp_path: Path) -> None:
    path = _write(tmp_path / "b.csv", "Memo,Withdrawals,Deposits\nATM,40.00,\nREFUND,,5\n")
    result = read_transactions(path, columns={"debit": "Withdrawals", "credit": "Deposits"})
    assert result.frame["amount"].tolist() == [-40.0, 5.0]
    with pytest.raises(ColumnSpecError, match="not both"):
        read_transactions(path, columns={"amount": "Deposits", "debit": "Withdrawals"})


def test_conventions_and_direction(tmp_path: Path) -> None:
    text = "description,amount,direction\nUBER,23.50,\nREFUND,4.00,credit\nFEE,-2,DEBIT\n"
    path = _write(tmp_path / "plaid.csv", text)
    positive = read_transactions(path, amount_convention="outflow_positive").frame
    assert positive["amount"].tolist() == [-23.5, 4.0, -2.0]
    assert positive["direction"].tolist()[1:] == ["credit", "debit"]
    negative = read_transactions(path).frame
    assert negative["amount"].tolist() == [23.5, 4.0, -2.0]
    bad = _write(tmp_path / "bad.csv", "description,amount,direction\nX,1,sideways\n")
    with pytest.raises(DataError, match="line 2, column 'direction': expected debit or credit"):
        read_transactions(bad)


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        (["2024-01-05", "2024-12-31T10:30:00"], [(2024, 1, 5), (2024, 12, 31)]),
        (["01/05/2024", "12/31/2024"], [(2024, 1, 5), (2024, 12, 31)]),
        (["05/01/2024", "31/12/2024"], [(2024, 1, 5), (2024, 12, 31)]),
        (["05.01.2024", "06.01.24"], [(2024, 1, 5), (2024, 1, 6)]),
        (["01/05/2024", "02/06/2024"], [(2024, 1, 5), (2024, 2, 6)]),
        (["05 Jan 2024", "31-DEC-2024"], [(2024, 1, 5), (2024, 12, 31)]),
        (["2024-01-05T23:30:00-05:00", "2024-01-06 01:00Z"], [(2024, 1, 5), (2024, 1, 6)]),
        (["20240105", "2024/01/06"], [(2024, 1, 5), (2024, 1, 6)]),
    ],
)
def test_date_formats(
    tmp_path: Path, dates: list[str], expected: list[tuple[int, int, int]]
) -> None:
    body = "".join(f"SHOP,-1,{d}\n" for d in dates)
    path = _write(tmp_path / "d.csv", "description,amount,date\n" + body)
    frame = read_transactions(path).frame
    assert [(d.year, d.month, d.day) for d in frame["date"]] == expected


def test_quoted_line_breaks_keep_physical_line_numbers(tmp_path: Path) -> None:
    text = 'description,amount\n"TWO\nLINES",-1\nOK,-2\n"THREE\nMORE\nLINES",x\n'
    path = _write(tmp_path / "multi.csv", text)
    with pytest.raises(DataError) as info:
        read_transactions(path)
    assert info.value.line == 5
    result = read_transactions(path, skip_bad_rows=True)
    assert result.frame["id"].tolist() == ["multi-2", "multi-4"]


def test_ragged_rows_are_located(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.csv", "description,amount\nA,-1\nB,-2,extra\nC,-3\n")
    with pytest.raises(DataError, match="line 3: expected 2 fields, found 3"):
        read_transactions(path)
    result = read_transactions(path, skip_bad_rows=True)
    assert result.frame["description"].tolist() == ["A", "C"]
    assert result.rejected == 1
    unclosed = _write(tmp_path / "u.csv", 'description,amount\nA,-1\n"B,-2\n')
    with pytest.raises(DataError, match="line 3: a quoted field is never closed"):
        read_transactions(unclosed)


def test_file_problems(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_transactions(tmp_path / "nope.csv")
    with pytest.raises(DataError, match=r"unsupported file type '\.xlsx'"):
        read_transactions(_write(tmp_path / "a.xlsx", "x"))
    with pytest.raises(DataError, match="the file is empty"):
        read_transactions(_write(tmp_path / "empty.csv", "\n\n"))
    header_only = read_transactions(_write(tmp_path / "h.csv", "description,amount\n"))
    assert header_only.frame.empty


def test_parquet_files(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "transaction_id": ["t1", "t2", "t3"],
            "name": ["STARBUCKS", "SHELL", "BAD"],
            "amount": [5.75, 40.0, np.inf],
            "iso_currency_code": ["USD", "usd", "USD"],
            "date": pd.to_datetime(["2024-01-05", "2024-01-06", "2024-01-07"]),
            "mcc": [5814, None, 5411],
            "extra": [1, 2, 3],
        }
    )
    path = tmp_path / "plaid.parquet"
    frame.to_parquet(path)
    with pytest.raises(DataError, match="line 3, column 'amount'"):
        read_transactions(path)
    result = read_transactions(path, skip_bad_rows=True, amount_convention="outflow_positive")
    out = result.frame
    assert out["id"].tolist() == ["t1", "t2"]
    assert out["description"].tolist() == ["STARBUCKS", "SHELL"]
    assert out["amount"].tolist() == [-5.75, -40.0]
    assert out["currency"].tolist() == ["USD", "USD"]
    assert out["mcc"].tolist()[0] == "5814"
    assert out["extra"].tolist() == [1, 2]
    assert result.rejected == 1


def test_jsonl_files(tmp_path: Path) -> None:
    lines = [
        json.dumps({"description": "STARBUCKS", "amount": -5.75, "mcc": 5814, "tags": ["a"]}),
        "",
        json.dumps({"description": "SHELL", "amount": "(40.00)", "date": "2024-01-06"}),
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"description": "PAYROLL", "amount": 1e3}),
    ]
    path = _write(tmp_path / "tx.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(DataError, match="line 4: expected a JSON object"):
        read_transactions(path)
    result = read_transactions(path, skip_bad_rows=True)
    frame = result.frame
    assert frame["id"].tolist() == ["tx-1", "tx-3", "tx-6"]
    assert frame["amount"].tolist() == [-5.75, -40.0, 1000.0]
    assert frame["mcc"].tolist()[0] == "5814"
    assert frame["tags"].iloc[0] == ["a"]
    assert result.rejected == 2
    rejects = pd.read_csv(result.rejects_path, dtype=str, keep_default_na=False)
    assert rejects["_line"].tolist() == ["4", "5"]
    assert rejects["_raw"].iloc[0] == "{not json"


def test_write_frame_round_trips(tmp_path: Path) -> None:
    source = read_transactions(_write(tmp_path / "bank.csv", GOOD_CSV)).frame
    for name in ("out.csv", "out.parquet", "out.jsonl", "out.tsv"):
        written = write_frame(source, tmp_path / "sub" / name)
        again = read_transactions(written).frame
        assert again["id"].tolist() == source["id"].tolist(), name
        assert again["amount"].tolist() == source["amount"].tolist(), name
        assert again["date"].tolist() == source["date"].tolist(), name
        assert again["mcc"].fillna("").tolist() == source["mcc"].fillna("").tolist(), name
    with pytest.raises(ValueError, match=r"expected a \.csv"):
        write_frame(source, tmp_path / "out.xlsx")


# --------------------------------------------------------------------------------------------
# re-exports


def test_data_re_exports_the_split_modules_names() -> None:
    homes = {
        categorizer.ingest.errors: ("DataError", "AmountError", "ColumnSpecError", "SplitError"),
        categorizer.ingest.amounts: ("parse_amount", "AMOUNT_EXPECTED"),
        categorizer.ingest.columns: ("parse_columns", "COLUMN_KEYS"),
        categorizer.ingest.readers: ("CSV_SUFFIXES", "JSONL_SUFFIXES", "PARQUET_SUFFIXES"),
        categorizer.ingest.splits: ("dedup_key", "drop_duplicates", "split_frame", "SPLITS"),
    }
    for module, names in homes.items():
        for name in names:
            assert name in categorizer.ingest.data.__all__, name
            assert getattr(categorizer.ingest.data, name) is getattr(module, name), name
    for name in categorizer.ingest.data.__all__:
        assert hasattr(categorizer.ingest.data, name), name
