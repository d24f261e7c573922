"""Every write about prices, usage, bills and budget alerts: one function each.

Used alike by the pages, the JSON API, the Django admin, the commands and the tasks. Each
validates, saves inside `transaction.atomic()` and leaves an audit entry.

The ledger rule: the bill is the ledger of record. Where it covers a workspace's day, that
day's metered usage (the ingest API, the probes, the demo) is marked `superseded`, so the
split counts the bill's money and tokens. Writes that touch usage lock the workspaces they
touch (in primary-key order), so an import and an ingest of the same day cannot both miss
each other's rows.
"""

import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from portal.audit import trail
from portal.inputs import text_problem
from portal.workspaces.models import ApiKey, CatalogModel, Workspace

from . import bills
from .models import (
    MAX_REQUESTS,
    MAX_TOKENS,
    METERED,
    BillImport,
    BillLine,
    BudgetAlert,
    ModelPrice,
    PriceBook,
    Source,
    UsageRecord,
)
from .reports import budget_status
from .signals import budget_threshold_crossed

log = logging.getLogger(__name__)

STAGE_CHUNK = 5_000  # bill lines written (and progress counted) per transaction
MAX_INGEST_ROWS = 10_000
PREVIEW_PROBLEMS_KEPT = 1_000
STALE_CLAIM = timedelta(minutes=15)


def _lock_workspaces(ids) -> None:
    """Serialize writers of these workspaces' usage (a no-op on SQLite, which has one writer)."""
    list(
        Workspace.objects.select_for_update()
        .filter(pk__in=set(ids))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _bill_days(pairs) -> set[tuple[int, date]]:
    """Which of these (workspace id, day) pairs the bill covers."""
    pairs = set(pairs)
    if not pairs:
        return set()
    days = [day for _, day in pairs]
    covered = UsageRecord.objects.filter(
        source=Source.BILL,
        workspace_id__in={w for w, _ in pairs},
        day__gte=min(days),
        day__lte=max(days),
    ).values_list("workspace_id", "day")
    return pairs & set(covered)


def _apply_price(record: UsageRecord, price: ModelPrice | None, workspace_currency: str) -> None:
    if price is None:
        record.cost, record.priced, record.currency = Decimal(0), False, workspace_currency
        return
    record.cost = price.cost_of(
        input_tokens=record.input_tokens,
        output_tokens=record.output_tokens,
        requests=record.requests,
        cached_input_tokens=record.cached_input_tokens,
        batch=record.batch,
    )
    record.priced, record.currency = True, price.currency


# -- prices ---------------------------------------------------------------------------------


@transaction.atomic
def save_price(price: ModelPrice, *, actor, source: str = "web") -> tuple[ModelPrice, int]:
    """Add a price or change one, then re-cost the metered usage it covers (bill rows carry
    their own amounts). Returns the price and how many usage records were re-costed."""
    created = price.pk is None
    previous = None if created else ModelPrice.objects.get(pk=price.pk)
    if not price.currency and price.region_id:
        price.currency = price.region.currency
    price.full_clean()
    try:
        with transaction.atomic():
            price.save()
            price.refresh_from_db()  # the audit records what is stored (8 places)
    except IntegrityError:
        raise ValidationError(
            {
                "effective_from": [
                    f"{price.model.name} in {price.region_id} already has a price from "
                    f"{price.effective_from}: change that one."
                ]
            }
        ) from None
    trail.record(
        actor,
        trail.Action.CREATE if created else trail.Action.UPDATE,
        price,
        before=trail.snapshot(previous) if previous else None,
        after=trail.snapshot(price),
        source=source,
    )
    since = price.effective_from
    recosted = 0
    if previous is not None:
        if (previous.model_id, previous.region_id) == (price.model_id, price.region_id):
            since = min(since, previous.effective_from)
        else:  # moved: the usage it covered before is costed anew too
            recosted += recost(previous.model.name, previous.region_id, previous.effective_from)
    recosted += recost(price.model.name, price.region_id, since)
    return price, recosted


@transaction.atomic
def delete_price(price: ModelPrice, *, actor, source: str = "web") -> int:
    trail.record(actor, trail.Action.DELETE, price, before=trail.snapshot(price), source=source)
    model_name, region_id, since = price.model.name, price.region_id, price.effective_from
    price.delete()
    return recost(model_name, region_id, since)


def recost(model_name: str, region_id: str, since: date) -> int:
    """Cost again the metered usage of a model in a region from `since` on, each record with
    the price in force on its day. Returns how many records changed."""
    book = PriceBook.load([model_name], [region_id])
    changed = []
    records = (
        UsageRecord.objects.filter(
            source__in=METERED,
            model_name=model_name,
            workspace__region_id=region_id,
            day__gte=since,
        )
        .select_related("workspace")
        .only(*_COST_INPUTS, "workspace__currency")
    )
    for record in records.iterator(chunk_size=2000):
        before = (record.cost, record.priced, record.currency)
        _apply_price(
            record, book.price_for(model_name, region_id, record.day), record.workspace.currency
        )
        if (record.cost, record.priced, record.currency) != before:
            changed.append(record)
    UsageRecord.objects.bulk_update(changed, ["cost", "priced", "currency"], batch_size=500)
    return len(changed)


_COST_INPUTS = (
    "id",
    "day",
    "workspace",
    "input_tokens",
    "output_tokens",
    "requests",
    "cached_input_tokens",
    "batch",
    "cost",
    "priced",
    "currency",
)


# -- metered usage: the ingest API ------------------------------------------------------------


class UsageRowsInvalid(ValidationError):
    """Rows of an ingest request that cannot be stored: `rows` is [{"row", "field",
    "message"}], the API's 400 body."""

    def __init__(self, rows: list[dict]):
        super().__init__([r["message"] for r in rows] or ["Invalid usage rows."])
        self.rows = rows


INGEST_FIELDS = {
    "workspace": "the workspace's slug",
    "model": "the model's name, e.g. qwen-plus",
    "date": "the day, YYYY-MM-DD",
    "input_tokens": "a whole number",
    "output_tokens": "a whole number",
    "requests": "a whole number",
    "key_fingerprint": "optional: the stored key's fingerprint",
    "cached_input_tokens": "optional: input tokens served from the context cache",
    "batch": "optional: true for batch inference",
}
_REQUIRED_INGEST = ("workspace", "model", "date", "input_tokens", "output_tokens", "requests")


@dataclass
class _IngestRow:
    index: int
    workspace: Workspace
    model: str
    day: date
    input_tokens: int
    output_tokens: int
    requests: int
    cached_input_tokens: int
    batch: bool
    key_fingerprint: str

    @property
    def identity(self):
        return (self.workspace.pk, self.day, self.model, self.key_fingerprint, self.batch)


def _whole_number(value, name: str, limit: int) -> tuple[int | None, str | None]:
    if isinstance(value, bool) or not isinstance(value, int):
        return None, f"{name} must be a whole number (got {type(value).__name__})."
    if value < 0:
        return None, f"{name} cannot be negative."
    if value > limit:
        return None, f"{name} is larger than {limit:,}."
    return value, None


def _check_ingest_rows(rows) -> list[_IngestRow]:
    """Every row valid, or UsageRowsInvalid listing each problem (row index from 0)."""
    if not isinstance(rows, list):
        raise UsageRowsInvalid(
            [{"row": None, "field": "__all__", "message": "Send a JSON array of usage rows."}]
        )
    if not rows:
        raise UsageRowsInvalid(
            [{"row": None, "field": "__all__", "message": "Send at least one usage row."}]
        )
    if len(rows) > MAX_INGEST_ROWS:
        raise UsageRowsInvalid(
            [
                {
                    "row": None,
                    "field": "__all__",
                    "message": f"At most {MAX_INGEST_ROWS:,} rows per request (got {len(rows):,}).",
                }
            ]
        )

    def texts(name):  # what may be looked up: strings the database can hold (no NUL)
        return {
            r[name]
            for r in rows
            if isinstance(r, dict) and isinstance(r.get(name), str) and not text_problem(r[name])
        }

    workspaces = {w.slug: w for w in Workspace.objects.filter(slug__in=texts("workspace"))}
    catalog = set(
        CatalogModel.objects.filter(name__in=texts("model")).values_list("name", flat=True)
    )
    fingerprints = defaultdict(set)
    for workspace_id, fingerprint in ApiKey.objects.filter(
        workspace__in=workspaces.values()
    ).values_list("workspace_id", "fingerprint"):
        fingerprints[workspace_id].add(fingerprint)
    latest = timezone.localdate() + timedelta(days=1)  # callers a timezone ahead of ours
    errors, clean, seen = [], [], {}

    def problem(index, name, message):
        errors.append({"row": index, "field": name, "message": message})

    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            problem(index, "__all__", "Each row is a JSON object.")
            continue
        before = len(errors)
        for name in row.keys() - INGEST_FIELDS.keys():
            shown = str(name).replace("\x00", "").encode("utf-8", "replace").decode()[:40]
            problem(index, shown, f"Unknown field; the fields are: {', '.join(INGEST_FIELDS)}.")
        for name, value in row.items():
            if isinstance(value, str) and name in INGEST_FIELDS and text_problem(value):
                problem(index, name, text_problem(value))
        for name in _REQUIRED_INGEST:
            if name not in row or row[name] is None:
                problem(index, name, f"This field is required ({INGEST_FIELDS[name]}).")
        workspace = None
        if isinstance(row.get("workspace"), str):
            workspace = workspaces.get(row["workspace"])
            if workspace is None:
                problem(index, "workspace", f"No workspace '{row['workspace'][:50]}'.")
        elif "workspace" in row and row["workspace"] is not None:
            problem(index, "workspace", "The workspace is its slug, a string.")
        model = row.get("model")
        if model is not None and (not isinstance(model, str) or model not in catalog):
            shown = model[:80] if isinstance(model, str) else type(model).__name__
            problem(index, "model", f"'{shown}' is not in the model catalog.")
        day = None
        if row.get("date") is not None:
            text = row["date"]
            try:
                if not isinstance(text, str) or len(text) != 10:
                    raise ValueError
                day = date.fromisoformat(text)
            except ValueError:
                problem(index, "date", "The date is a day such as 2026-01-31 (YYYY-MM-DD).")
            else:
                if day > latest:
                    problem(index, "date", f"{day} is in the future.")
                    day = None
                elif day.year < 2019:
                    problem(index, "date", f"{day} is before Model Studio billed anything.")
                    day = None
        numbers = {}
        for name, limit in (
            ("input_tokens", MAX_TOKENS),
            ("output_tokens", MAX_TOKENS),
            ("requests", MAX_REQUESTS),
            ("cached_input_tokens", MAX_TOKENS),
        ):
            if row.get(name) is None:
                continue
            value, message = _whole_number(row[name], name, limit)
            if message:
                problem(index, name, message)
            numbers[name] = value
        cached = numbers.get("cached_input_tokens") or 0
        if numbers.get("input_tokens") is not None and cached > numbers["input_tokens"]:
            problem(index, "cached_input_tokens", "More cached input tokens than input tokens.")
        batch = row.get("batch", False)
        if batch is None:
            batch = False
        if not isinstance(batch, bool):
            problem(index, "batch", "batch is true or false.")
        fingerprint = row.get("key_fingerprint") or ""
        if not isinstance(fingerprint, str):
            problem(index, "key_fingerprint", "The key fingerprint is a string.")
            fingerprint = ""
        elif (
            fingerprint and workspace is not None and fingerprint not in fingerprints[workspace.pk]
        ):
            problem(
                index,
                "key_fingerprint",
                f"No key of {workspace.slug} has the fingerprint '{fingerprint[:40]}'.",
            )
        if len(errors) > before:
            continue
        item = _IngestRow(
            index=index,
            workspace=workspace,
            model=model,
            day=day,
            input_tokens=numbers["input_tokens"],
            output_tokens=numbers["output_tokens"],
            requests=numbers["requests"],
            cached_input_tokens=cached,
            batch=batch,
            key_fingerprint=fingerprint,
        )
        if item.identity in seen:
            problem(
                index,
                "__all__",
                f"Repeats row {seen[item.identity]} (same workspace, model, date, key and batch): "
                "send one row with the day's total.",
            )
            continue
        seen[item.identity] = index
        clean.append(item)
    if errors:
        raise UsageRowsInvalid(errors)
    return clean


@transaction.atomic
def ingest_usage(rows, *, actor, source: str = "api", usage_source: str = Source.API) -> int:
    """Store metered usage sent by a team (a gateway, an SDK hook): all rows or none.

    Each row is a day's total for its workspace, model, key and batch flag: sending it again
    replaces it, so a client may retry safely. Rows are costed with the price in force on
    their day. `source` is the audit trail's (api, web, cli); `usage_source` the records'
    (the ingest API's, or the demo's, labelled so).
    """
    if usage_source not in METERED or usage_source == Source.PROBE:
        raise ValueError(f"Not a source of ingested usage: {usage_source!r}")
    items = _check_ingest_rows(rows)
    _lock_workspaces(item.workspace.pk for item in items)
    covered = _bill_days((item.workspace.pk, item.day) for item in items)
    book = PriceBook.load({i.model for i in items}, {i.workspace.region_id for i in items})
    days = [item.day for item in items]
    existing = {
        (r.workspace_id, r.day, r.model_name, r.key_fingerprint, r.batch): r
        for r in UsageRecord.objects.filter(
            source=usage_source,
            workspace_id__in={i.workspace.pk for i in items},
            day__gte=min(days),
            day__lte=max(days),
            key_id="",
        )
    }
    created, updated = [], []
    for item in items:
        record = existing.get(item.identity)
        if record is None:
            record = UsageRecord(
                workspace=item.workspace,
                model_name=item.model,
                day=item.day,
                source=usage_source,
                key_fingerprint=item.key_fingerprint,
                batch=item.batch,
            )
            created.append(record)
        else:
            updated.append(record)
        record.requests = item.requests
        record.input_tokens = item.input_tokens
        record.output_tokens = item.output_tokens
        record.cached_input_tokens = item.cached_input_tokens
        record.superseded = (item.workspace.pk, item.day) in covered
        price = book.price_for(item.model, item.workspace.region_id, item.day)
        _apply_price(record, price, item.workspace.currency)
    UsageRecord.objects.bulk_create(created, batch_size=1000)
    UsageRecord.objects.bulk_update(
        updated,
        [
            "requests",
            "input_tokens",
            "output_tokens",
            "cached_input_tokens",
            "cost",
            "priced",
            "currency",
            "superseded",
        ],
        batch_size=500,
    )
    by_workspace = defaultdict(list)
    for item in items:
        by_workspace[item.workspace].append(item.day)
    for workspace, workspace_days in by_workspace.items():
        trail.record(
            actor,
            trail.Action.UPDATE,
            workspace,
            label=(
                f"{workspace.name}: usage ingested, {len(workspace_days)} row(s) from "
                f"{min(workspace_days)} to {max(workspace_days)}"
            ),
            source=source,
        )
    return len(items)


# -- metered usage: the probes' billed calls --------------------------------------------------


def account_probe_usage(calls) -> None:
    """Record the probes' billed 1-token model calls against their workspaces (source
    "probe", shown apart as probe overhead): `calls` is (workspace, {"model",
    "input_tokens", "output_tokens"}) pairs."""
    totals: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    workspaces = {}
    for workspace, usage in calls:
        workspaces[workspace.pk] = workspace
        entry = totals[(workspace.pk, usage["model"])]
        entry[0] += 1
        entry[1] += max(0, int(usage.get("input_tokens") or 0))
        entry[2] += max(0, int(usage.get("output_tokens") or 0))
    if not totals:
        return
    day = timezone.localdate()
    with transaction.atomic():
        _lock_workspaces(workspaces)
        covered = _bill_days((w, day) for w in workspaces)
        book = PriceBook.load({m for _, m in totals}, {w.region_id for w in workspaces.values()})
        for (workspace_id, model), (requests, tokens_in, tokens_out) in totals.items():
            workspace = workspaces[workspace_id]
            record, _ = UsageRecord.objects.get_or_create(
                workspace_id=workspace_id,
                model_name=model,
                day=day,
                source=Source.PROBE,
                key_fingerprint="",
                key_id="",
                batch=False,
                defaults={
                    "currency": workspace.currency,
                    "superseded": (workspace_id, day) in covered,
                },
            )
            # Added in the database (workers run concurrently), then costed from the new
            # totals: a day's tier depends on its average request, not on this batch's.
            UsageRecord.objects.filter(pk=record.pk).update(
                requests=F("requests") + requests,
                input_tokens=F("input_tokens") + tokens_in,
                output_tokens=F("output_tokens") + tokens_out,
            )
            record.refresh_from_db()
            _apply_price(
                record, book.price_for(model, workspace.region_id, day), workspace.currency
            )
            record.save(update_fields=["cost", "priced", "currency"])


# -- the bill -----------------------------------------------------------------------------------


@dataclass
class PreparedBill:
    """A bill file read and mapped: the rows an import would add, and why others cannot be."""

    parsed: bills.ParsedBill
    new: list[tuple[bills.BillRow, Workspace]] = field(default_factory=list)
    duplicates: int = 0
    problems: list[bills.RowProblem] = field(default_factory=list)
    unlinked_key_ids: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.parsed.readable and not self.problems


def importable_workspaces(user) -> set[int] | None:
    """The workspaces whose rows `user`'s bill may bring: None (every one) for admins and
    the command line, the workspaces a lead leads for a lead."""
    from portal.roles import Perm, has_perm

    if user is None or has_perm(user, Perm.MANAGE_COSTS):
        return None
    return set(Workspace.objects.for_user(user).values_list("pk", flat=True))


NOT_YOURS = (
    "the workspace {id} is not one you lead: export the bill of your own workspaces only "
    "(or ask an admin to import the whole bill)"
)


def prepare_bill(content: bytes, mapping: dict, allowed: set[int] | None = None) -> PreparedBill:
    """Read the file and map each row to its workspace: the preview, and what an import adds.
    `allowed`: the workspaces the uploader may import for (None: all); a row of any other is
    a problem, worded the same whether that workspace is registered or not (a lead learns
    nothing of other teams from it)."""
    parsed = bills.parse(content, mapping)
    prepared = PreparedBill(parsed, problems=list(parsed.problems))
    if not parsed.readable:
        return prepared
    workspace_ids = {row.workspace_id for row in parsed.rows}
    workspaces = {
        w.workspace_id.lower(): w for w in Workspace.objects.filter(workspace_id__in=workspace_ids)
    }
    mapped = []
    for row in parsed.rows:
        workspace = workspaces.get(row.workspace_id)
        if allowed is not None and (workspace is None or workspace.pk not in allowed):
            prepared.problems.append(
                bills.RowProblem(row.number, NOT_YOURS.format(id=row.workspace_id))
            )
            continue
        if workspace is None:
            prepared.problems.append(
                bills.RowProblem(
                    row.number,
                    f"the workspace {row.workspace_id} is not registered in the portal: register "
                    "it (Workspaces → Register), then upload the file again",
                )
            )
            continue
        currency = row.currency or workspace.currency
        if currency != workspace.currency:
            prepared.problems.append(
                bills.RowProblem(
                    row.number,
                    f"the row is in {currency} but {workspace.name} is billed in "
                    f"{workspace.currency} (edit the workspace's currency if the bill is right)",
                )
            )
            continue
        row.currency = currency
        mapped.append((row, workspace))
    prepared.problems.sort(key=lambda p: p.number)
    if mapped:
        days = [row.day for row, _ in mapped]
        live = set(
            BillLine.objects.filter(
                live=True,
                workspace__in={w.pk for _, w in mapped},
                day__gte=min(days),
                day__lte=max(days),
            ).values_list("identity", flat=True)
        )
        prepared.new = [(row, w) for row, w in mapped if row.identity not in live]
        prepared.duplicates = len(mapped) - len(prepared.new)
    key_ids = {row.key_id for row, _ in mapped if row.key_id}
    linked = set(ApiKey.objects.filter(key_id__in=key_ids).values_list("key_id", flat=True))
    prepared.unlinked_key_ids = sorted(key_ids - linked)
    return prepared


def _summary(bill_import: BillImport, prepared: PreparedBill) -> dict:
    """The preview as stored on the import (JSON): counts, totals, and every problem."""
    parsed = prepared.parsed
    totals: dict[tuple, dict] = {}
    for row, workspace in prepared.new:
        entry = totals.setdefault(
            (workspace.pk,),
            {
                "workspace": workspace.name,
                "slug": workspace.slug,
                "currency": row.currency,
                "amount": Decimal(0),
                "rows": 0,
                "input_tokens": 0,
                "output_tokens": 0,
            },
        )
        entry["amount"] += row.amount
        entry["rows"] += 1
        entry["input_tokens"] += row.input_tokens
        entry["output_tokens"] += row.output_tokens
    by_currency: dict[str, Decimal] = defaultdict(Decimal)
    for entry in totals.values():
        by_currency[entry["currency"]] += entry["amount"]
    days = [row.day for row, _ in prepared.new]
    notes = list(parsed.notes)
    earlier = (
        BillImport.objects.filter(sha256=bill_import.sha256, status=BillImport.Status.DONE)
        .exclude(pk=bill_import.pk)
        .order_by("-finished_at")
        .first()
        if bill_import.sha256
        else None
    )
    if earlier is not None:
        notes.insert(
            0,
            f"This exact file was imported on {earlier.finished_at:%Y-%m-%d %H:%M} "
            "(importing it again changes nothing).",
        )
    if prepared.unlinked_key_ids:
        notes.append(
            f"{len(prepared.unlinked_key_ids)} API key ID(s) are not set on a stored key, so "
            "their usage is shown by key ID: "
            + ", ".join(prepared.unlinked_key_ids[:10])
            + (" …" if len(prepared.unlinked_key_ids) > 10 else "")
            + " (set a key's Model Studio ID in the admin)."
        )
    return {
        "ready": prepared.ready,
        "encoding": parsed.encoding,
        "layout": parsed.layout,
        "header": parsed.header[:100],
        "header_line": parsed.header_line,
        "mapping": parsed.mapping,
        "unknown_headers": parsed.unknown_headers[:100],
        "missing": parsed.missing,
        "rows": len(parsed.rows) + len(parsed.problems) + len(parsed.skipped),
        "new_rows": len(prepared.new),
        "duplicate_rows": prepared.duplicates,
        "unmapped_rows": len(prepared.problems),
        "skipped_rows": len(parsed.skipped),
        "problems": [
            {"row": p.number, "reason": p.reason} for p in prepared.problems[:PREVIEW_PROBLEMS_KEPT]
        ],
        "skipped": [{"row": p.number, "reason": p.reason} for p in parsed.skipped[:200]],
        "notes": notes,
        "first_day": str(min(days)) if days else None,
        "last_day": str(max(days)) if days else None,
        "totals": sorted(
            ({**t, "amount": str(t["amount"])} for t in totals.values()),
            key=lambda t: (t["currency"], t["workspace"]),
        ),
        "currency_totals": {c: str(v) for c, v in sorted(by_currency.items())},
    }


def _check_upload(content: bytes, filename: str) -> None:
    if len(content) > bills.MAX_BYTES:
        raise ValidationError(
            {
                "file": [
                    f"The file is larger than {bills.MAX_BYTES // (1024 * 1024)} MB: export a shorter period."
                ]
            }
        )
    if not content:
        raise ValidationError({"file": ["The file is empty."]})


@transaction.atomic
def upload_bill(content: bytes, filename: str, *, actor, source: str = "web") -> BillImport:
    """Keep an uploaded bill and its preview (nothing is imported yet)."""
    _check_upload(content, filename)
    try:
        bills.decode(content)
    except bills.BillError as exc:
        raise ValidationError({"file": [str(exc)]}) from None
    shown_name = "".join(ch for ch in (filename or "") if ch.isprintable()) or "bill.csv"
    bill_import = BillImport(
        filename=shown_name[:200],
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
        uploaded_by=actor if getattr(actor, "pk", None) else None,
    )
    _refresh_preview(bill_import)
    bill_import.save()
    trail.record(
        actor, trail.Action.CREATE, bill_import, after=trail.snapshot(bill_import), source=source
    )
    return bill_import


def _allowed(bill_import: BillImport) -> set[int] | None:
    """Decided by who uploaded the bill, at every reading (the preview, the worker's run): a
    lead who stopped leading a workspace since cannot import its rows any more."""
    return importable_workspaces(bill_import.uploaded_by)


def _refresh_preview(bill_import: BillImport) -> PreparedBill:
    try:
        prepared = prepare_bill(
            bytes(bill_import.content), bill_import.mapping, _allowed(bill_import)
        )
    except bills.BillError as exc:
        raise ValidationError({"file": [str(exc)]}) from None
    bill_import.preview = _summary(bill_import, prepared)
    bill_import.mapping = prepared.parsed.mapping
    return prepared


@transaction.atomic
def map_bill_columns(
    bill_import: BillImport, mapping: dict, *, actor, source: str = "web"
) -> BillImport:
    """Say which column is which (for headers the portal does not know), and preview again."""
    if bill_import.status != BillImport.Status.PREVIEW:
        raise ValidationError("This bill is already imported or being imported.")
    header = set(bill_import.preview.get("header", []))
    problems = {
        name: [f"The file has no column '{text[:60]}'."]
        for name, text in mapping.items()
        if text and text not in header
    }
    unknown = set(mapping) - set(bills.MAPPABLE)
    if unknown:
        problems["__all__"] = [f"Unknown field(s): {', '.join(sorted(unknown))}."]
    if problems:
        raise ValidationError(problems)
    before = trail.snapshot(bill_import)
    # Fields left empty in the form stay unmapped, even if a header would have matched.
    prepared = prepare_bill(
        bytes(bill_import.content),
        {n: mapping.get(n, "") for n in bills.MAPPABLE},
        _allowed(bill_import),
    )
    bill_import.preview = _summary(bill_import, prepared)
    # Every field, "" for those left out, so the worker reads the file exactly as previewed.
    bill_import.mapping = {n: prepared.parsed.mapping.get(n, "") for n in bills.MAPPABLE}
    bill_import.save(update_fields=["mapping", "preview"])
    trail.record(
        actor,
        trail.Action.UPDATE,
        bill_import,
        before=before,
        after=trail.snapshot(bill_import),
        source=source,
    )
    return bill_import


def confirm_bill_import(bill_import: BillImport, *, actor, enqueue, source: str = "web") -> bool:
    """Queue the import (all or nothing, in a worker). `enqueue(id)` sends the task; False
    when the bill cannot be imported as it is (the preview says why) or is already queued."""
    with transaction.atomic():
        # The stored preview decides (the worker reads the file again and skips whatever
        # another import brought meanwhile, so a stale preview cannot double-count).
        if not bill_import.can_confirm:
            return False
        queued = BillImport.objects.filter(
            pk=bill_import.pk, status=BillImport.Status.PREVIEW
        ).update(
            status=BillImport.Status.QUEUED,
            total=bill_import.preview["new_rows"],
            done=0,
            error="",
        )
        if not queued:
            return False  # a second click, or another admin, queued it already
        trail.record(
            actor,
            trail.Action.UPDATE,
            bill_import,
            label=f"import confirmed: {bill_import.filename}",
            source=source,
        )
    try:
        enqueue(str(bill_import.pk))
    except Exception:  # the broker is down: give the bill back to its preview, say why
        log.warning("Could not queue bill import %s.", bill_import.pk, exc_info=True)
        BillImport.objects.filter(pk=bill_import.pk, status=BillImport.Status.QUEUED).update(
            status=BillImport.Status.PREVIEW,
            error="The task queue is not reachable, so the import could not start: try again.",
        )
        return False
    return True


def run_bill_import(import_id) -> BillImport | None:
    """Import a confirmed bill: stage its new rows in chunks (the progress bar counts them),
    then make them live and roll them up in one transaction. All or nothing: a failure (or a
    worker dying) leaves no row of this bill counted anywhere."""
    claimed = BillImport.objects.filter(
        pk=import_id, status__in=[BillImport.Status.QUEUED, BillImport.Status.IMPORTING]
    ).update(status=BillImport.Status.IMPORTING, started_at=timezone.now(), done=0)
    if not claimed:
        return None  # imported already, or never confirmed: a redelivered task does nothing
    bill_import = BillImport.objects.get(pk=import_id)
    if connection.vendor == "sqlite":
        # 64 MB of page cache for this connection (the default is 2 MB): the bill lines'
        # indexes stay in memory while 100,000s of rows go in.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size = -65536")
    BillLine.objects.filter(bill_import=bill_import, live=False).delete()  # a rerun starts over
    try:
        prepared = prepare_bill(
            bytes(bill_import.content), bill_import.mapping, _allowed(bill_import)
        )
        if not prepared.ready:
            raise ValidationError(
                "The bill no longer maps (a workspace was removed?): preview it again."
            )
        rows = prepared.new
        BillImport.objects.filter(pk=import_id).update(total=len(rows))
        for start in range(0, len(rows), STAGE_CHUNK):
            chunk = rows[start : start + STAGE_CHUNK]
            with transaction.atomic():
                _stage(bill_import, chunk)
                BillImport.objects.filter(pk=import_id).update(done=start + len(chunk))
        _finish_bill_import(bill_import, prepared)
        _refresh_statistics()
    except Exception as exc:
        log.exception("Bill import %s failed.", import_id)
        BillLine.objects.filter(bill_import_id=import_id, live=False).delete()
        message = (
            " ".join(exc.messages)
            if isinstance(exc, ValidationError)
            else "an unexpected error (logged)"
        )
        BillImport.objects.filter(pk=import_id).update(
            status=BillImport.Status.FAILED,
            error=f"Nothing was imported: {message}"[:300],
            finished_at=timezone.now(),
        )
    return BillImport.objects.get(pk=import_id)


_STAGED_COLUMNS = (
    "bill_import",
    "identity",
    "live",
    "row_number",
    "day",
    "workspace",
    "model_name",
    "key_id",
    "amount_type",
    "channel",
    "input_tokens",
    "output_tokens",
    "amount",
    "currency",
)


def _stage(bill_import: BillImport, chunk) -> None:
    """Write bill lines (not live yet) with one executemany: the ORM's bulk_create spends
    ~100 µs a row preparing values, which a 100,000-row bill would feel."""
    fields = [BillLine._meta.get_field(name) for name in _STAGED_COLUMNS]
    quote = connection.ops.quote_name
    # Built from the model's own (quoted) names; every value is a parameter.
    sql = (
        f"INSERT INTO {quote(BillLine._meta.db_table)} "  # noqa: S608
        f"({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    import_id = fields[0].get_db_prep_value(bill_import.pk, connection)
    amount = BillLine._meta.get_field("amount")
    days = {}
    params = []
    for row, workspace in chunk:
        day = days.get(row.day)
        if day is None:
            day = days[row.day] = connection.ops.adapt_datefield_value(row.day)
        params.append(
            (
                import_id,
                row.identity,
                False,
                row.number,
                day,
                workspace.pk,
                row.model_name,
                row.key_id,
                row.amount_type,
                row.channel,
                row.input_tokens,
                row.output_tokens,
                amount.get_db_prep_value(row.amount, connection),
                row.currency,
            )
        )
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


@transaction.atomic
def _finish_bill_import(bill_import: BillImport, prepared: PreparedBill) -> None:
    workspace_ids = {w.pk for _, w in prepared.new}
    _lock_workspaces(workspace_ids)
    staged = BillLine.objects.filter(bill_import=bill_import, live=False)
    days = [row.day for row, _ in prepared.new]
    imported = 0
    if days:
        # Another import may have brought some of the same rows meanwhile: those are not
        # new. (Only lines of the same workspaces and days can be the same rows.)
        live = BillLine.objects.filter(
            live=True, workspace__in=workspace_ids, day__gte=min(days), day__lte=max(days)
        )
        staged.filter(identity__in=live.values("identity")).delete()
        imported = staged.update(live=True)
    if imported:
        rebuild_bill_usage(workspace_ids, min(days), max(days))
    BillImport.objects.filter(pk=bill_import.pk).update(
        status=BillImport.Status.DONE,
        imported_rows=imported,
        duplicate_rows=prepared.duplicates + (len(prepared.new) - imported),
        done=len(prepared.new),
        finished_at=timezone.now(),
        content=b"",  # imported: the lines hold what counts, the digest identifies the file
    )
    bill_import.refresh_from_db()
    trail.record(
        bill_import.uploaded_by,
        trail.Action.UPDATE,
        bill_import,
        label=f"bill imported: {bill_import.filename}, {imported} row(s)",
        after=trail.snapshot(bill_import),
        source="system",
    )


def _refresh_statistics() -> None:
    """Tell the query planner what a big import changed: SQLite picks the split's covering
    index (read in GROUP BY order) only once it has statistics (`ANALYZE`)."""
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {connection.ops.quote_name(UsageRecord._meta.db_table)}")


def rebuild_bill_usage(workspace_ids, first: date, last: date) -> None:
    """The bill's daily rollups of these workspaces and days, summed again from the live
    bill lines; and the metered usage of the days the bill covers marked superseded."""
    workspace_ids = set(workspace_ids)
    UsageRecord.objects.filter(
        source=Source.BILL, workspace_id__in=workspace_ids, day__gte=first, day__lte=last
    ).delete()
    groups = (
        BillLine.objects.filter(
            live=True, workspace_id__in=workspace_ids, day__gte=first, day__lte=last
        )
        .values("workspace_id", "day", "model_name", "key_id", "currency")
        .annotate(
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            amount=Sum("amount"),
        )
        .order_by()
    )
    records, covered = [], defaultdict(set)
    for group in groups.iterator(chunk_size=5000):
        records.append(
            UsageRecord(
                workspace_id=group["workspace_id"],
                day=group["day"],
                model_name=group["model_name"],
                key_id=group["key_id"],
                source=Source.BILL,
                input_tokens=group["input_tokens"],
                output_tokens=group["output_tokens"],
                cost=group["amount"],
                currency=group["currency"],
            )
        )
        covered[group["workspace_id"]].add(group["day"])
        if len(records) >= 5000:
            UsageRecord.objects.bulk_create(records)
            records = []
    UsageRecord.objects.bulk_create(records)
    for workspace_id, days in covered.items():
        UsageRecord.objects.filter(
            workspace_id=workspace_id, day__in=sorted(days), source__in=METERED
        ).update(superseded=True)


# -- budget alerts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DueAlert:
    workspace: Workspace
    threshold: str
    month: date
    budget: Decimal
    spend: Decimal
    projected: Decimal


def due_budget_alerts(today: date | None = None) -> list[DueAlert]:
    """The thresholds crossed this month that have no claim yet (one rule for all: >=)."""
    today = today or timezone.localdate()
    month = today.replace(day=1)
    workspaces = Workspace.objects.filter(monthly_budget__gt=0)
    claimed = set(
        BudgetAlert.objects.filter(month=month).values_list("workspace_id", "threshold", "budget")
    )
    due = []
    for status in budget_status(workspaces, today).values():
        for threshold in status.crossed:
            if (status.workspace.pk, threshold, status.budget) in claimed:
                continue
            due.append(
                DueAlert(
                    status.workspace,
                    threshold,
                    month,
                    status.budget,
                    status.spend,
                    status.projected,
                )
            )
    return due


def _release_stale_claims() -> None:
    """A claim whose sender died before it could say (delivered or not) is released, so the
    alert is tried again instead of being lost."""
    BudgetAlert.objects.filter(
        delivered_at__isnull=True, claimed_at__lt=timezone.now() - STALE_CLAIM
    ).delete()


def check_budgets(today: date | None = None) -> dict:
    """Claim each due alert, send it (the `budget_threshold_crossed` signal), keep the claim
    when a receiver confirms delivery, release it otherwise. Returns what happened."""
    _release_stale_claims()
    counts = {"due": 0, "delivered": 0, "released": 0, "taken": 0}
    for due in due_budget_alerts(today):
        counts["due"] += 1
        try:
            with transaction.atomic():
                alert = BudgetAlert.objects.create(
                    workspace=due.workspace,
                    month=due.month,
                    threshold=due.threshold,
                    budget=due.budget,
                    currency=due.workspace.currency,
                    spend=due.spend,
                    projected=due.projected,
                )
        except IntegrityError:
            counts["taken"] += 1  # another checker claimed it first: it sends
            continue
        try:
            responses = budget_threshold_crossed.send_robust(sender=BudgetAlert, alert=alert)
        except Exception:  # the dispatch itself failed: nothing was confirmed
            log.warning("Sending budget alert %s failed.", alert, exc_info=True)
            responses = []
        for receiver, response in responses:
            if isinstance(response, Exception):
                log.warning(
                    "Budget alert receiver %r failed for %s.", receiver, alert, exc_info=response
                )
        if any(response is True for _, response in responses):
            BudgetAlert.objects.filter(pk=alert.pk).update(delivered_at=timezone.now())
            counts["delivered"] += 1
        else:
            alert.delete()
            counts["released"] += 1
    return counts
