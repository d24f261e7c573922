"""`python manage.py import_bill FILE.csv [--dry-run] [--map field=Header ...]`

Prints the preview's counts and every row that does not map; exits non-zero, changing
nothing, if any row does not map (or the file cannot be read). Without --dry-run it then
imports the bill, all or nothing, in this process (no worker needed).
"""

import hashlib
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from portal.audit import trail
from portal.costs import bills, services
from portal.costs.models import BillImport


class Command(BaseCommand):
    help = "Preview, then import, a Model Studio bill-details CSV (all or nothing)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="The bill-details CSV exported from the billing console")
        parser.add_argument(
            "--dry-run", action="store_true", help="Print the preview and change nothing"
        )
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="FIELD=HEADER",
            help=f"Which column holds a field the headers do not name ({', '.join(bills.MAPPABLE)})",
        )

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file.")
        if path.stat().st_size > bills.MAX_BYTES:
            raise CommandError(f"{path}: larger than {bills.MAX_BYTES // (1024 * 1024)} MB.")
        mapping = {}
        for item in options["map"]:
            name, _, header = item.partition("=")
            if name not in bills.MAPPABLE or not header:
                raise CommandError(
                    f"--map {item!r}: give FIELD=HEADER, FIELD one of {', '.join(bills.MAPPABLE)}."
                )
            mapping[name] = header
        content = path.read_bytes()
        try:
            prepared = services.prepare_bill(content, mapping)
        except bills.BillError as exc:
            raise CommandError(f"{path}: {exc}") from None
        self._print(prepared)
        if not prepared.parsed.readable:
            raise CommandError(
                "The headers do not name every needed column: pass --map FIELD=HEADER."
            )
        if prepared.problems:
            raise CommandError(f"{len(prepared.problems)} row(s) do not map: nothing was imported.")
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing was changed.")
            return
        if not prepared.new:
            self.stdout.write("Nothing new to import: every row is imported already.")
            return
        with transaction.atomic():
            bill_import = BillImport.objects.create(
                filename=path.name[:200],
                size=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
                content=content,
                mapping=prepared.parsed.mapping,
                status=BillImport.Status.QUEUED,
                total=len(prepared.new),
            )
            trail.record(
                None,
                trail.Action.CREATE,
                bill_import,
                after=trail.snapshot(bill_import),
                source="cli",
            )
        bill_import = services.run_bill_import(bill_import.pk)
        if bill_import.status != BillImport.Status.DONE:
            raise CommandError(bill_import.error or "The import failed: nothing was imported.")
        self.stdout.write(
            f"Imported {bill_import.imported_rows} row(s); {bill_import.duplicate_rows} were there already."
        )

    def _print(self, prepared):
        parsed = prepared.parsed
        out = self.stdout.write
        out(
            f"Encoding: {parsed.encoding}; header on line {parsed.header_line}; layout: {parsed.layout}"
        )
        for name, header in parsed.mapping.items():
            out(f"  {name:14} ← {header}")
        if parsed.unknown_headers:
            out(f"Not recognised: {', '.join(parsed.unknown_headers)}")
        if parsed.missing:
            out(f"No column for: {', '.join(parsed.missing)}")
            return
        rows = len(parsed.rows) + len(parsed.problems) + len(parsed.skipped)
        out(
            f"Rows: {rows}; to import: {len(prepared.new)}; already imported: {prepared.duplicates}; "
            f"do not map: {len(prepared.problems)}; skipped: {len(parsed.skipped)}"
        )
        totals = {}
        for row, workspace in prepared.new:
            key = (workspace.slug, row.currency)
            totals[key] = totals.get(key, 0) + row.amount
        for (slug, currency), amount in sorted(totals.items()):
            out(f"  {slug}: {amount} {currency}")
        for note in parsed.notes:
            out(f"Note: {note}")
        for problem in prepared.problems:
            sys.stderr.write(f"line {problem.number}: {problem.reason}\n")
        for skipped in parsed.skipped:
            out(f"skipped line {skipped.number}: {skipped.reason}")
