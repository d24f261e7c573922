"""Reading bill files: both layouts, English and Chinese headers, encodings, and every kind of
file that is not a bill (refused with a reason, never a 500)."""

from decimal import Decimal

import pytest

from portal.costs import bills
from tests.costs.conftest import bill_csv, bill_row

WS = "llm-7c72iiw36kd8abcd"


def rows():
    return [
        bill_row(WS, side="input_token", usage="1000", amount="0.0008", key_id="1234567"),
        bill_row(WS, side="output_token", usage="500", amount="0.001", key_id="1234567"),
        bill_row(
            WS,
            day="2026-03-04",
            model="qwen-max",
            side="output_token",
            usage="2",
            unit="千tokens",
            amount="0.0192",
            key_id="",
        ),
    ]


@pytest.mark.parametrize("layout", ["instance", "fields"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_both_layouts_with_english_or_chinese_headers_read_the_same(layout, lang):
    parsed = bills.parse(bill_csv(rows(), layout=layout, lang=lang))
    assert parsed.missing == [] and parsed.problems == []
    got = [
        (
            str(r.day),
            r.workspace_id,
            r.model_name,
            r.key_id,
            r.input_tokens,
            r.output_tokens,
            r.amount,
            r.currency,
            r.channel,
        )
        for r in parsed.rows
    ]
    assert got == [
        ("2026-03-03", WS, "qwen-plus", "1234567", 1000, 0, Decimal("0.0008"), "CNY", "api"),
        ("2026-03-03", WS, "qwen-plus", "1234567", 0, 500, Decimal("0.001"), "CNY", "api"),
        ("2026-03-04", WS, "qwen-max", "", 0, 2000, Decimal("0.0192"), "CNY", "api"),
    ]
    assert ("2025-12-16" in parsed.layout) == (layout == "fields")


def test_a_row_is_the_same_row_in_either_layout():
    old = bills.parse(bill_csv(rows(), layout="instance", lang="en"))
    new = bills.parse(bill_csv(rows(), layout="fields", lang="zh"))
    assert [r.identity for r in old.rows] == [r.identity for r in new.rows]
    assert len({r.identity for r in old.rows}) == 3


def test_identical_rows_in_one_file_are_distinct_occurrences():
    parsed = bills.parse(bill_csv([bill_row(WS), bill_row(WS)]))
    assert len(parsed.rows) == 2 and parsed.rows[0].identity != parsed.rows[1].identity


def test_the_payable_amount_is_the_cost_when_several_money_columns_exist():
    data = (
        "Billing Date,Instance ID,Pretax Gross Amount,Amount After Discount,Payable Amount,Currency\n"
        f"2026-03-01,1;{WS};qwen-plus;input_token;api,9.99,8.88,7.77,CNY\n"
    ).encode()
    parsed = bills.parse(data)
    assert parsed.mapping["amount"] == "Payable Amount" and parsed.rows[0].amount == Decimal("7.77")


def test_the_first_instance_field_is_a_key_id_unless_it_reads_as_a_billing_type():
    # The bill-query help page shows "text_token;llm-xxx;qwen-max;output_token;app".
    data = (
        "Billing Date,Instance ID,Payable Amount\n"
        f"2026-03-01,text_token;{WS};qwen-max;output_token;app,1.00\n"
        f"2026-03-01,98765;{WS};qwen-max;output_token;app,1.00\n"
        f"2026-03-01,{WS};qwen-max;output_token;app,1.00\n"
    ).encode()
    parsed = bills.parse(data)
    assert [(r.key_id, r.model_name, r.channel) for r in parsed.rows] == [
        ("", "qwen-max", "app"),
        ("98765", "qwen-max", "app"),
        ("", "qwen-max", "app"),
    ]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "utf-16"])
def test_chinese_headers_are_read_in_every_encoding_the_console_may_use(encoding):
    parsed = bills.parse(bill_csv(rows(), lang="zh", encoding=encoding))
    assert len(parsed.rows) == 3 and parsed.mapping["amount"] == "应付金额"


def test_a_title_line_above_the_header_is_skipped():
    data = "明细账单\n" + bill_csv(rows()).decode("utf-8-sig")
    parsed = bills.parse(data.encode())
    assert parsed.header_line == 2 and len(parsed.rows) == 3


def test_unknown_headers_are_listed_and_the_missing_columns_named_then_mapped():
    data = (f"Day,Thing,Money\n2026-03-01,1;{WS};qwen-plus;input_token;api,1.25\n").encode()
    parsed = bills.parse(data)
    assert parsed.missing == ["date", "amount", "workspace_id"]
    assert parsed.unknown_headers == ["Day", "Thing", "Money"] and parsed.rows == []
    mapped = bills.parse(data, {"date": "Day", "instance_id": "Thing", "amount": "Money"})
    assert mapped.missing == [] and mapped.rows[0].amount == Decimal("1.25")


@pytest.mark.parametrize(
    "cells, reason",
    [
        (("03/2026", f"1;{WS};qwen-plus;input_token;api", "1.00", "CNY"), "is not a date"),
        (("2026-02-30", f"1;{WS};qwen-plus;input_token;api", "1.00", "CNY"), "is not a date"),
        (
            ("2026-03-01", f"1;{WS};qwen-plus;input_token;api", "abc", "CNY"),
            "is not a decimal number",
        ),
        (
            ("2026-03-01", f"1;{WS};qwen-plus;input_token;api", "NaN", "CNY"),
            "is not a decimal number",
        ),
        (
            ("2026-03-01", f"1;{WS};qwen-plus;input_token;api", "1e9999", "CNY"),
            "is not a decimal number",
        ),
        (("2026-03-01", f"1;{WS};qwen-plus;input_token;api", "99999999999", "CNY"), "larger than"),
        (("2026-03-01", "i-abc123", "3.00", "CNY"), "no workspace ID"),
        (("2026-03-01", f"1;{WS}", "3.00", "CNY"), "no model name"),
        (("2026-03-01", f"1;{WS};qwen-plus;input_token;api", "1.00", "EUR"), "neither CNY nor USD"),
    ],
)
def test_a_row_that_cannot_be_read_says_why(cells, reason):
    data = ("Billing Date,Instance ID,Payable Amount,Currency\n" + ",".join(cells) + "\n").encode()
    parsed = bills.parse(data)
    assert parsed.rows == []
    assert parsed.problems[0].number == 2 and reason in parsed.problems[0].reason


def test_rows_of_other_products_are_skipped_not_refused():
    data = (
        "Billing Date,Product Name,Instance ID,Payable Amount\n"
        f"2026-03-01,Alibaba Cloud Model Studio,1;{WS};qwen-plus;input_token;api,1.00\n"
        "2026-03-01,Elastic Compute Service,i-abc,3.00\n"
    ).encode()
    parsed = bills.parse(data)
    assert len(parsed.rows) == 1 and parsed.problems == []
    assert "not a Model Studio row" in parsed.skipped[0].reason


def test_amounts_keep_eight_places_and_usage_in_other_units_is_noted():
    data = (
        "Billing Date,Instance ID,Usage,Usage Unit,Payable Amount\n"
        f'2026-03-01,1;{WS};qwen-plus;input_token;api,"1,234",tokens,"1,000.00098721"\n'
        f"2026-03-01,1;{WS};wanx-v1;image;api,3,images,0.123456789\n"
    ).encode()
    parsed = bills.parse(data)
    assert parsed.rows[0].amount == Decimal("1000.00098721")
    assert parsed.rows[0].input_tokens == 1234
    assert parsed.rows[1].amount == Decimal("0.12345679") and parsed.rows[1].input_tokens == 0
    assert any("'images', not tokens" in n for n in parsed.notes)
    assert any("rounded to 8" in n for n in parsed.notes)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"PK\x03\x04 rest of a workbook", "Excel workbook"),
        (b"Billing Date,Instance ID\x00,Amount\n", "NUL bytes"),
        (b"\xff\xfe\x00\xd8 broken", "neither UTF-8 nor GB18030"),
        (b"\x80\x81\xff\xfe\x00", "NUL bytes"),
    ],
)
def test_what_is_not_a_csv_text_file_is_refused_with_a_reason(data, message):
    with pytest.raises(bills.BillError) as caught:
        bills.parse(data)
    assert message in str(caught.value)


def test_a_file_over_50_mb_is_refused():
    with pytest.raises(bills.BillError, match="larger than 50 MB"):
        bills.decode(b"x" * (bills.MAX_BYTES + 1))
