"""Every enabled endpoint registered before schedules existed is probed centrally, as before."""

from django.db import migrations


def plan(apps, schema_editor):
    Endpoint = apps.get_model("network", "Endpoint")
    ProbeSchedule = apps.get_model("probes", "ProbeSchedule")
    ProbeSchedule.objects.bulk_create(
        [
            ProbeSchedule(endpoint_id=pk, location="central", primary=True)
            for pk in Endpoint.objects.filter(enabled=True).values_list("pk", flat=True)
        ],
        batch_size=1000,
    )


class Migration(migrations.Migration):
    dependencies = [("probes", "0002_schedules_locations_and_status_changes")]

    operations = [migrations.RunPython(plan, migrations.RunPython.noop)]
