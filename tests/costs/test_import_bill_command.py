"""`manage.py import_bill FILE.csv [--dry-run]`: prints the preview's counts; exits non-zero,
changing nothing, if any row does not map."""

import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from portal.costs.models import BillImport, BillLine, UsageRecord
from tests.conftest import ROOT, subprocess_env
from tests.costs.conftest import bill_csv, bill_row


@pytest.fixture
def bill_file(tmp_path, workspace_a):
    def write(rows, name="bill.csv", **options):
        path = tmp_path / name
        path.write_bytes(bill_csv(rows, **options))
        return path

    return write


def run(*args):
    from io import StringIO

    out, err = StringIO(), StringIO()
    call_command("import_bill", *map(str, args), stdout=out, stderr=err)
    return out.getvalue()


def test_a_dry_run_prints_the_counts_and_changes_nothing(bill_file, workspace_a):
    path = bill_file(
        [
            bill_row(workspace_a, amount="1.25"),
            bill_row(workspace_a, amount="2.50", side="output_token"),
        ],
        lang="zh",
    )
    out = run(path, "--dry-run")
    assert "Rows: 2; to import: 2; already imported: 0; do not map: 0" in out
    assert "team-a: 3.75 CNY" in out and "Dry run: nothing was changed." in out
    assert BillImport.objects.count() == 0 and UsageRecord.objects.count() == 0


def test_it_imports_then_a_second_run_finds_nothing_new(bill_file, workspace_a):
    path = bill_file([bill_row(workspace_a, amount="1.25")])
    assert "Imported 1 row(s)" in run(path)
    assert "Nothing new to import" in run(path)
    assert BillLine.objects.filter(live=True).count() == 1


def test_a_row_that_does_not_map_stops_it_and_nothing_changes(bill_file, workspace_a):
    path = bill_file(
        [bill_row(workspace_a, amount="1.25"), bill_row("llm-unknown00001", amount="9")]
    )
    with pytest.raises(CommandError, match="1 row\\(s\\) do not map: nothing was imported"):
        run(path)
    assert BillImport.objects.count() == 0 and UsageRecord.objects.count() == 0


def test_unknown_headers_are_mapped_with_map(tmp_path, workspace_a):
    path = tmp_path / "odd.csv"
    path.write_text(
        f"Day,Where,Money\n2026-03-01,1;{workspace_a.workspace_id};qwen-plus;input_token;api,1.10\n"
    )
    with pytest.raises(CommandError, match="--map FIELD=HEADER"):
        run(path, "--dry-run")
    out = run(path, "--map", "date=Day", "--map", "instance_id=Where", "--map", "amount=Money")
    assert "Imported 1 row(s)" in out


@pytest.mark.parametrize("content, message", [(b"", "empty"), (b"PK\x03\x04xx", "Excel workbook")])
def test_a_file_that_is_not_a_bill_is_refused(tmp_path, db, content, message):
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(CommandError, match=message):
        run(path)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_exit_status_is_non_zero_when_a_row_does_not_map(bill_file, workspace_a):
    path = bill_file([bill_row("llm-unknown00001", amount="9")])
    result = subprocess.run(
        [sys.executable, "manage.py", "import_bill", str(path)],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "llm-unknown00001 is not registered" in result.stderr
    assert "do not map: 1" in result.stdout
    ok = bill_file([bill_row(workspace_a, amount="1")], name="ok.csv")
    result = subprocess.run(
        [sys.executable, "manage.py", "import_bill", str(ok), "--dry-run"],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
