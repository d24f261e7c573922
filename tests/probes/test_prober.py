"""One bad endpoint or one result the database refuses costs only itself: the worker's other
probes are prepared, probed and recorded as usual. Work held for a later slot never fills the
places; work whose slot has come and cannot be probed holds the worker back."""

import logging
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from endpoints.devtools.simulator.state import Fault
from endpoints.network.models import Vpc
from endpoints.probes import dispatch, runner
from endpoints.probes.models import CENTRAL, ProbeResult, ProbeSchedule
from endpoints.probes.prober import Prober
from endpoints.probes.tasks import chunks

OTHER = "ep-run002.dashscope.cn-beijing.privatelink.aliyuncs.com"


@pytest.fixture
def two(probed, sim, make_vpc, make_endpoint, workspace_a):
    """`probed` and a second endpoint in a VPC of its own, both due."""
    vpc = make_vpc(vpc_id="vpc-bjtest02", resolver=f"127.0.0.1:{sim.dns_port}")
    other = make_endpoint(
        name="bj private 2",
        url=f"http://{OTHER}:{sim.http_port}",
        vpc=vpc,
        workspace=workspace_a,
        allows_80_443=True,
    )
    sim.dns.set_a(OTHER, ["127.0.0.1"])
    return probed, other


def test_an_endpoint_that_cannot_be_prepared_is_skipped_and_the_others_probed(two, caplog):
    probed, other = two
    # Records written around the validators (a list where a mapping belongs): preparing this
    # endpoint's target raises.
    Vpc.objects.filter(pk=other.vpc_id).update(host_overrides=["not", "a", "mapping"])
    token, claimed = dispatch.claim_central()
    assert len(claimed) == 2
    with caplog.at_level(logging.ERROR, logger="endpoints.probes.runner"):
        works = runner.work_for([pk for pk, _ in claimed], token)
    assert [w.target.endpoint_id for w in works] == [probed.pk]
    assert f"Endpoint {other.pk} could not be prepared" in caplog.text


def wait_until_recorded(prober, seconds=15.0):
    deadline = time.monotonic() + seconds
    while prober.pending and time.monotonic() < deadline:
        time.sleep(0.05)
    assert prober.pending == 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # recorded from its threads
def test_a_result_the_database_refuses_loses_only_itself(two, caplog):
    probed, other = two
    token, claimed = dispatch.claim_central()
    works = runner.work_for([pk for pk, _ in claimed], token)
    assert len(works) == 2
    poisoned = next(w for w in works if w.target.endpoint_id == other.pk)
    poisoned.observation.run_id = "not-a-run-id"  # no such manual run: the insert fails
    prober = Prober(capacity=4)
    try:
        with caplog.at_level(logging.WARNING, logger="endpoints.probes.prober"):
            assert prober.submit(works, timeout=5)
            wait_until_recorded(prober)
    finally:
        prober.close(wait_s=5)
    assert ProbeResult.objects.filter(endpoint=probed, location=CENTRAL).count() == 1
    assert not ProbeResult.objects.filter(endpoint=other).exists()
    assert ProbeSchedule.objects.get(endpoint=probed).lease_token is None  # moved on
    # The refused one keeps its lease: it runs out and the endpoint is probed again.
    assert ProbeSchedule.objects.get(endpoint=other).lease_token is not None
    assert f"Could not record the result of endpoint {other.pk}" in caplog.text


def test_a_batch_is_prepared_in_the_same_few_queries_whatever_its_size(
    probed, sim, make_endpoint, workspace_a, django_assert_max_num_queries
):
    """No column left out of the batch's query is read row by row (each would be a query)."""
    for n in range(20):
        make_endpoint(
            name=f"batch {n}",
            url=f"http://ep-batch{n:03d}.dashscope.cn-beijing.privatelink.aliyuncs.com",
            vpc=probed.vpc,
            workspace=workspace_a,
            model_call_check=bool(n % 2),
        )
    token, claimed = dispatch.claim_central()
    assert len(claimed) == 21
    with django_assert_max_num_queries(10):
        works = runner.work_for([pk for pk, _ in claimed], token)
    assert len(works) == 21
    assert {w.target.url for w in works} >= {probed.url}
    assert all(w.target.secret and w.observation.interval_s for w in works)


def copies(work, count, slot):
    return [replace(work, observation=replace(work.observation, slot=slot)) for _ in range(count)]


def one_work(endpoint):
    token, claimed = dispatch.claim_central()
    (work,) = runner.work_for([pk for pk, _ in claimed], token)
    assert work.target.endpoint_id == endpoint.pk
    return work


def test_work_held_for_a_later_slot_leaves_the_places_free(probed):
    """A dispatch period's look-ahead is more work than four times the places at a few hundred
    probes a second: it is taken at once and probed at its slot (it used to block the worker's
    next batch until the earlier ones were recorded, and the probes fell behind)."""
    later = datetime.now(UTC) + timedelta(seconds=2)
    recorded = []
    prober = Prober(capacity=2, record=recorded.extend)
    try:
        for batch in chunks(copies(one_work(probed), 40, later), 5):
            assert prober.submit(batch, timeout=0.5)
        wait_until_recorded(prober)
    finally:
        prober.close(wait_s=5)
    assert len(recorded) == 40
    assert all(o.outcome.started_at >= later for o in recorded)


def test_work_whose_slot_has_come_is_taken_only_up_to_four_times_the_places(probed, sim):
    sim.state.set_fault(host=probed.host, fault=Fault(hang=True))
    work = one_work(probed)
    work = replace(work, target=replace(work.target, timeout_s=3.0))
    prober = Prober(capacity=2, record=lambda batch: None)
    try:
        assert prober.submit(copies(work, 8, None), timeout=0.5)  # 2 probing, 6 waiting
        assert not prober.submit(copies(work, 1, None), timeout=1.0)  # full till they end
        assert prober.submit(copies(work, 1, None), timeout=10)  # taken once the first end
    finally:
        prober.close(wait_s=15)
