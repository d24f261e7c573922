"""Reading the Model Studio bill: the billing console's bill-details CSV (docs/domain.md,
"The bill export").

Pure parsing, no database: bytes in, `ParsedBill` out (rows with the bill's workspace IDs,
and every row that could not be read, with its reason). `services` maps the rows to
workspaces and keys and imports them.

Two layouts are read: the `Instance ID` column holding `ApiKeyID;WorkspaceID;ModelName;
input/output type;channel` (since 2024-09-07; no ApiKeyID for calls made in the console),
and the layout since 2025-12-16 with separate ApiKeyId, WorkspaceId, ModelName, AmountType
and Source fields. Columns are found by their English or Chinese headers; a header that is
not recognised is mapped by the person importing (`mapping`).
"""

import codecs
import csv
import functools
import hashlib
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from django.core.exceptions import ValidationError

from .money import parse_amount

MAX_BYTES = 50 * 1024 * 1024
MAX_TOKENS = 10**12


class BillError(Exception):
    """The file cannot be read as a bill at all (empty, binary, not CSV text)."""


@dataclass(frozen=True)
class Column:
    label: str
    aliases: tuple[str, ...]
    help: str = ""


def _key(header: str) -> str:
    """A header reduced to what identifies it: "Instance ID", "InstanceId", "instance_id" and
    "实例ID" all compare equal to their alias."""
    # Full-width brackets and colons too (\uff08 \uff09 \uff1a), as Chinese headers write them.
    return re.sub(r"[\s_\-()\uff08\uff09/:\uff1a.]", "", header.strip().strip("\ufeff\"'")).lower()


# Our fields, each with the headers it is known by (English console, upgraded bills, the
# Chinese console). Order matters for `amount`: the first header present is the cost.
COLUMNS: dict[str, Column] = {
    "date": Column(
        "Billing date",
        (
            "Billing Date",
            "BillingDate",
            "Bill Date",
            "Date",
            "Usage Date",
            "Consumption Date",
            "账单日期",
            "消费日期",
            "使用日期",
            "日期",
            "賬單日期",
        ),
        "The day the usage happened (statistic period: day or details).",
    ),
    "time": Column(
        "Billing time",
        (
            "Billing Time",
            "BillingTime",
            "Usage Start Time",
            "UsageStartTime",
            "Start Time",
            "Consumption Time",
            "消费时间",
            "使用开始时间",
            "账单时间",
        ),
        "Hourly bills: the hour of the usage (optional).",
    ),
    "instance_id": Column(
        "Instance ID",
        (
            "Instance ID",
            "InstanceId",
            "InstanceID",
            "实例ID",
            "實例ID",
            "执行个体ID",
            "執行個體ID",
            "资源实例ID",
        ),
        "ApiKeyID;WorkspaceID;ModelName;input/output type;channel",
    ),
    "api_key_id": Column("API key ID", ("ApiKeyId", "ApiKeyID", "API Key ID", "API-KEY ID")),
    "workspace_id": Column(
        "Workspace ID", ("WorkspaceId", "WorkspaceID", "Workspace ID", "业务空间ID", "工作空间ID")
    ),
    "model_name": Column("Model name", ("ModelName", "Model Name", "Model", "模型名称", "模型")),
    "amount_type": Column(
        "Amount type",
        ("AmountType", "Amount Type", "Input/Output Type", "InputOutputType", "输入输出类型"),
        "input_token, output_token, …",
    ),
    "channel": Column(
        "Channel", ("Source", "Invocation Channel", "Call Channel", "Channel", "调用渠道", "来源")
    ),
    "billable_item": Column(
        "Billable item", ("Billable Item", "Billing Item", "BillingItem", "计费项", "計費項")
    ),
    "usage": Column("Usage", ("Usage", "用量", "使用量")),
    "usage_unit": Column("Usage unit", ("Usage Unit", "UsageUnit", "用量单位", "用量單位")),
    "amount": Column(
        "Amount",
        (
            "Payable Amount",
            "PayableAmount",
            "应付金额",
            "應付金額",
            "Amount After Price Reduction",
            "Amount After Reduction",
            "Amount After Discount",
            "AmountAfterDiscount",
            "优惠后金额",
            "優惠後金額",
            "Pretax Amount",
            "PretaxAmount",
            "税前金额",
        ),
        "What the row costs (Payable Amount, else Amount After Reduction).",
    ),
    "currency": Column("Currency", ("Currency", "币种", "幣種", "货币")),
    "product": Column("Product", ("Product Name", "ProductName", "Product", "产品", "产品名称")),
    "primary_key": Column("Row ID", ("Primary Key", "PrimaryKey", "主键")),
}
REQUIRED = ("date", "amount")  # and a workspace: instance_id or workspace_id
MAPPABLE = tuple(COLUMNS)
_ALIASES = {field: {_key(a) for a in column.aliases} for field, column in COLUMNS.items()}

WORKSPACE_ID = re.compile(r"^llm-[a-z0-9][a-z0-9-]*$")
DATE = re.compile(r"^(\d{4})[-/.]?(\d{1,2})[-/.]?(\d{1,2})(?:[ T].*)?$")
MODEL_STUDIO_PRODUCT = re.compile(r"model ?studio|百炼|dashscope|bailian", re.IGNORECASE)
TOKEN_UNITS = {
    "token": 1,
    "tokens": 1,
    "千token": 1000,
    "千tokens": 1000,
    "ktoken": 1000,
    "ktokens": 1000,
    "1ktokens": 1000,
    "thousandtokens": 1000,
    "万token": 10_000,
    "万tokens": 10_000,
    "百万token": 1_000_000,
    "百万tokens": 1_000_000,
    "mtoken": 1_000_000,
    "mtokens": 1_000_000,
    "1mtokens": 1_000_000,
    "milliontokens": 1_000_000,
}


@dataclass(slots=True)
class BillRow:
    """One readable row: what the bill says, before it is mapped to a workspace."""

    number: int  # the line in the file (1 = the first line)
    day: date
    workspace_id: str
    model_name: str
    key_id: str
    amount_type: str
    channel: str
    input_tokens: int
    output_tokens: int
    amount: Decimal
    currency: str  # "" when the file has no currency column
    identity: str = ""


@dataclass(slots=True)
class RowProblem:
    number: int
    reason: str


@dataclass
class ParsedBill:
    encoding: str
    header: list[str]
    header_line: int
    mapping: dict[str, str]  # field → header
    unknown_headers: list[str]
    missing: list[str]  # fields (or "workspace") without a column
    rows: list[BillRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    skipped: list[RowProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def layout(self) -> str:
        if "workspace_id" in self.mapping:
            return "separate ApiKeyId/WorkspaceId/ModelName fields (since 2025-12-16)"
        if "instance_id" in self.mapping:
            return "Instance ID ApiKeyID;WorkspaceID;ModelName;type;channel (since 2024-09-07)"
        return "unknown"

    @property
    def readable(self) -> bool:
        return not self.missing


# -- bytes → text → table --------------------------------------------------------------------


def decode(data: bytes) -> tuple[str, str]:
    """The file's text and the encoding it was in; BillError for what is not CSV text."""
    if not data or not data.strip():
        raise BillError("The file is empty.")
    if len(data) > MAX_BYTES:
        raise BillError(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB.")
    if data[:4] == b"PK\x03\x04":
        raise BillError("This is an Excel workbook or a zip archive: export the bill as CSV.")
    if data.startswith(codecs.BOM_UTF8):
        candidates = [("utf-8-sig", "UTF-8")]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = [("utf-16", "UTF-16")]
    elif b"\x00" in data:
        raise BillError("The file contains NUL bytes: it is not a CSV text file.")
    else:
        candidates = [("utf-8", "UTF-8"), ("gb18030", "GB18030 (Chinese Windows)")]
    for codec, name in candidates:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            raise BillError("The file contains NUL bytes: it is not a CSV text file.")
        return text.lstrip("\ufeff"), name
    raise BillError("The file is neither UTF-8 nor GB18030 text: export the bill as CSV again.")


def _delimiter(text: str) -> str:
    sample = text[:20_000]
    return "\t" if sample.count("\t") > sample.count(",") else ","


def _cell(value: str) -> str:
    value = value.strip()
    if value.startswith('="') and value.endswith('"'):  # Excel's way of keeping an ID as text
        value = value[2:-1]
    return value.lstrip("'\t").strip()


def detect(header: list[str]) -> tuple[dict[str, str], list[str]]:
    """Our fields found among the headers (field → header), and the headers not recognised."""
    mapping: dict[str, str] = {}
    unknown = []
    for text in header:
        key = _key(text)
        matched = False
        for name, aliases in _ALIASES.items():
            if key and key in aliases:
                matched = True
                if name == "amount" and name in mapping:
                    # Several money columns: the earliest alias (payable amount) wins.
                    order = [_key(a) for a in COLUMNS["amount"].aliases]
                    if order.index(key) < order.index(_key(mapping[name])):
                        mapping[name] = text
                else:
                    mapping.setdefault(name, text)
                break
        if not matched and text.strip():
            unknown.append(text.strip())
    return mapping, unknown


def _find_header(table: list[list[str]]) -> int:
    """The header row: the one among the first lines naming the most known columns (a console
    export may start with a title line)."""
    best, best_score = 0, 0
    for index, row in enumerate(table[:30]):
        score = len(detect(row)[0])
        if score > best_score:
            best, best_score = index, score
    return best


def missing_fields(mapping: dict[str, str]) -> list[str]:
    missing = [name for name in REQUIRED if name not in mapping]
    if "date" in missing and "time" in mapping:
        missing.remove("date")  # an hourly bill's time carries its day
    if "instance_id" not in mapping and "workspace_id" not in mapping:
        missing.append("workspace_id")
    return missing


# -- rows -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)  # a bill repeats a few dozen days over 100,000s of rows
def _day(text: str) -> date | None:
    match = DATE.match(text.strip())
    if not match:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


@functools.lru_cache(maxsize=256)
def _unit(text: str) -> str:
    return _key(text) or "tokens"


@functools.lru_cache(maxsize=1024)
def _side(amount_type: str, item: str) -> str:
    """ "input" or "output" for a token row, "" when the row says neither."""
    for text in (amount_type.lower(), item.lower()):
        if "output" in text or "输出" in text:
            return "output"
        if "input" in text or "输入" in text or "prompt" in text:
            return "input"
    return ""


class _Reader:
    """Turns one table row into a BillRow or a RowProblem (a closure over the column indexes)."""

    def __init__(self, header: list[str], mapping: dict[str, str]):
        position = {text: index for index, text in reversed(list(enumerate(header)))}
        self.columns = [
            (name, position[text]) for name, text in mapping.items() if text in position
        ]
        self.unit_notes: Counter = Counter()
        self.side_notes = 0
        self.rounded = 0
        self.seen: Counter = Counter()

    def values(self, cells: list[str]) -> dict[str, str]:
        """The mapped cells of a row, read once (a bill has 100,000s of rows)."""
        count = len(cells)
        values = {}
        for name, i in self.columns:
            value = cells[i].strip() if i < count else ""
            if value and value[0] in "='\t":
                value = _cell(value)
            values[name] = value
        return values

    def read(self, number: int, cells: list[str]) -> BillRow | RowProblem | str:
        """The row, its problem, or a string: why it is skipped (not a Model Studio row)."""
        v = self.values(cells)
        get = v.get
        product = get("product", "")
        if product and not MODEL_STUDIO_PRODUCT.search(product):
            return f"not a Model Studio row (product: {product[:60]})"
        day_text = get("date", "") or get("time", "")
        day = _day(day_text)
        if day is None:
            shown = day_text[:30] or "empty"
            return RowProblem(
                number, f"the billing date ({shown}) is not a date such as 2025-12-16"
            )
        try:
            amount = parse_amount(get("amount", ""))
        except ValidationError as exc:
            return RowProblem(number, exc.messages[0])
        if amount.as_tuple().exponent < -8:
            amount = amount.quantize(Decimal("0.00000001"), rounding=ROUND_HALF_EVEN)
            self.rounded += 1
        instance_id = get("instance_id", "")
        parts = [p.strip() for p in instance_id.split(";")]
        at = None
        for index, part in enumerate(parts):
            if part[:4].lower() == "llm-" and WORKSPACE_ID.match(part.lower()):
                at = index
                break
        workspace_id = get("workspace_id", "").lower() or (
            parts[at].lower() if at is not None else ""
        )
        if not workspace_id:
            if amount == 0:
                return "no workspace and nothing to pay"
            instance = instance_id[:80] or "empty"
            return RowProblem(
                number,
                f"no workspace ID (llm-…) in the row (Instance ID: {instance}); "
                "rows that are not model calls can be left out of the file",
            )
        if not WORKSPACE_ID.match(workspace_id):
            return RowProblem(number, f"'{workspace_id[:64]}' is not a workspace ID (llm-…)")
        after = parts[at + 1 :] if at is not None else []
        model = get("model_name", "") or (after[0] if after else "")
        if not model:
            return RowProblem(number, "no model name in the row")
        key_id = get("api_key_id", "")
        if not key_id and at:
            # The bill-query page reads this first field as the billing type (text_token),
            # the 2025-12-16 notice as the API key ID: a billing type is not a key.
            first = parts[0]
            if first and not first.lower().endswith("token"):
                key_id = first
        amount_type = get("amount_type", "") or (after[1] if len(after) > 1 else "")
        channel = get("channel", "") or (after[2] if len(after) > 2 else "")
        tokens = self._tokens(number, v, amount_type)
        if isinstance(tokens, RowProblem):
            return tokens
        currency = get("currency", "").upper()
        if currency in ("RMB", "¥", "￥"):
            currency = "CNY"
        if currency and currency not in ("CNY", "USD"):
            return RowProblem(number, f"the currency '{currency[:10]}' is neither CNY nor USD")
        row = BillRow(
            number=number,
            day=day,
            workspace_id=workspace_id[:64],
            model_name=model[:80],
            key_id=key_id[:64],
            amount_type=amount_type[:40],
            channel=channel[:40],
            input_tokens=tokens[0],
            output_tokens=tokens[1],
            amount=amount,
            currency=currency,
        )
        row.identity = _identity(row, get("primary_key", ""), get("time", ""), self.seen)
        return row

    def _tokens(self, number, v, amount_type) -> tuple[int, int] | RowProblem:
        usage_text = v.get("usage", "")
        if not usage_text:
            return (0, 0)
        try:
            usage = parse_amount(usage_text, field="usage", allow_negative=False)
        except ValidationError as exc:
            return RowProblem(number, exc.messages[0])
        unit_text = v.get("usage_unit", "")
        unit = _unit(unit_text)
        factor = TOKEN_UNITS.get(unit)
        if factor is None:
            self.unit_notes[unit_text[:30]] += 1
            return (0, 0)
        tokens = int((usage * factor).to_integral_value(rounding=ROUND_HALF_EVEN))
        if tokens > MAX_TOKENS:
            return RowProblem(
                number, f"the usage {usage_text[:30]} is more than {MAX_TOKENS:,} tokens"
            )
        side = _side(amount_type, v.get("billable_item", ""))
        if side == "":
            self.side_notes += 1
            return (0, 0)
        return (tokens, 0) if side == "input" else (0, tokens)


def parse(data: bytes, mapping: dict[str, str] | None = None) -> ParsedBill:
    """Read a bill file. `mapping` (field → header) overrides what the headers say."""
    text, encoding = decode(data)
    try:
        table = list(csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text)))
    except csv.Error as exc:
        raise BillError(f"The file is not valid CSV: {exc}.") from None
    if not table:
        raise BillError("The file is empty.")
    header_at = _find_header(table)
    header = [h.strip().strip("\ufeff") for h in table[header_at]]
    detected, unknown = detect(header)
    chosen = {**detected}
    for name, text in (mapping or {}).items():
        if name in COLUMNS:
            if text:
                chosen[name] = text
            else:
                chosen.pop(name, None)
    chosen = {name: text for name, text in chosen.items() if text in header}
    claimed = set(chosen.values())
    bill = ParsedBill(
        encoding=encoding,
        header=header,
        header_line=header_at + 1,
        mapping=chosen,
        unknown_headers=[h for h in unknown if h not in claimed],
        missing=missing_fields(chosen),
    )
    if not bill.readable:
        return bill
    reader = _Reader(header, chosen)
    for offset, cells in enumerate(table[header_at + 1 :], start=header_at + 2):
        if not "".join(cells).strip():
            continue
        result = reader.read(offset, cells)
        if isinstance(result, BillRow):
            bill.rows.append(result)
        elif isinstance(result, RowProblem):
            bill.problems.append(result)
        else:
            bill.skipped.append(RowProblem(offset, result))
    for unit, count in reader.unit_notes.most_common():
        bill.notes.append(
            f"{count:,} row(s) count usage in '{unit}', not tokens: their amounts are imported, "
            "their usage is not counted as tokens."
        )
    if reader.side_notes:
        bill.notes.append(
            f"{reader.side_notes:,} row(s) do not say whether their tokens are input or output: "
            "their amounts are imported, their tokens are not counted."
        )
    if reader.rounded:
        bill.notes.append(
            f"{reader.rounded:,} amount(s) had more than 8 decimal places and were rounded to 8."
        )
    if "currency" not in chosen:
        bill.notes.append("No currency column: each row is taken in its workspace's currency.")
    return bill


def _identity(row: BillRow, primary_key: str, time: str, seen: Counter) -> str:
    """What makes a row the same row in another export: the bill's own row key, or what the
    row says (not how the layout writes it) and which occurrence of it this is in the file."""
    if primary_key:
        material = f"pk|{primary_key}"
    else:
        content = (
            f"{row.day}|{time}|{row.workspace_id}|{row.key_id}|{row.model_name}|"
            f"{row.amount_type.lower()}|{row.channel.lower()}|{row.input_tokens}|"
            f"{row.output_tokens}|{row.amount.normalize()}|{row.currency}"
        )
        seen[content] += 1
        material = f"{content}|{seen[content]}"
    return hashlib.blake2b(material.encode(), digest_size=16).hexdigest()
