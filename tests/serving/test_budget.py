"""The connection budget and the worker count, as plain functions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jaan.serving.budget import (
    BudgetError,
    embedded_max_connections,
    plan_budget,
    resolve_workers,
    usable_cpus,
)
from jaan.settings import Settings


def fits(budget, server_max: int) -> bool:
    return budget.pools * budget.per_worker <= budget.total <= server_max - budget.reserve


def test_auto_on_a_16_core_box_starts_against_a_default_postgresql():
    settings = Settings.from_env({})
    budget = plan_budget(settings, resolve_workers("auto", cpus=16), server_max=100, cpus=16)
    assert budget.workers == 16
    assert budget.pool_max >= 1 and budget.pool_min <= budget.pool_max
    assert fits(budget, 100)


def test_the_budget_counts_the_surge_pool_and_listen_connections_and_stays_under_the_server():
    settings = Settings.from_env({}, db_budget=500)
    budget = plan_budget(settings, 4, server_max=100, cpus=4)
    assert budget.total == 100 - 10 - 3  # the reserve and superuser slots are never spent
    assert budget.pools == 5
    assert budget.pools * (budget.pool_max + 1) <= budget.total
    assert "connection budget 87" in budget.describe()


def test_the_default_budget_is_about_four_connections_per_cpu():
    budget = plan_budget(Settings.from_env({}), 2, server_max=100, cpus=8)
    assert budget.total == 32
    assert budget.pool_max == min(50, (32 - 3) // 3)


def test_too_many_workers_for_the_server_is_refused_with_advice():
    with pytest.raises(BudgetError, match="use fewer workers"):
        plan_budget(Settings.from_env({}), 60, server_max=100, cpus=60)


def test_scaling_resplits_the_same_total():
    budget = plan_budget(Settings.from_env({}, db_budget=20), 2, server_max=100, cpus=2)
    more = budget.for_workers(4)
    assert more.total == budget.total and more.pools == 5
    assert more.pools * more.per_worker <= more.total and more.pool_max < budget.pool_max


def test_an_embedded_cluster_gets_room_for_the_budget_and_the_reserve():
    settings = Settings.from_env({}, db_budget=300)
    assert embedded_max_connections(settings, 4, 4) >= 300 + settings.db_reserve


def test_workers_must_be_a_positive_number_or_auto():
    assert resolve_workers("3") == 3
    assert resolve_workers("auto") == usable_cpus()
    for bad in ("0", "-1", "many"):
        with pytest.raises(ValueError):
            resolve_workers(bad)


def test_usable_cpus_honours_affinity_and_a_cgroup_quota(tmp_path: Path):
    affinity = len(os.sched_getaffinity(0))
    assert usable_cpus(tmp_path) == affinity  # no cgroup files: affinity alone
    (tmp_path / "cpu.max").write_text("50000 100000\n")  # half a CPU
    assert usable_cpus(tmp_path) == 1
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert usable_cpus(tmp_path) == affinity
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert usable_cpus(v1) == 1


def test_behind_a_pooler_the_budget_is_the_poolers_pool_not_max_connections():
    settings = Settings.from_env(
        {},
        db_pooler_connections=20,
        database_url="postgresql://pgbouncer/jaan",
        database_listen_url="postgresql://primary/jaan",
    )
    budget = plan_budget(settings, 4, server_max=10_000, cpus=4)
    assert budget.pooled and budget.total == 20 and budget.reserve == 0
    # The LISTEN connections bypass the pooler: the 5 pools alone share its 20.
    assert budget.pool_max == 4
    assert "of the pooler's pool" in budget.describe()
    assert budget.for_workers(1).pool_max == 10


def test_a_pooler_without_a_direct_listen_url_is_refused():
    with pytest.raises(ValueError, match="DATABASE_LISTEN_URL"):
        Settings.from_env({}, db_pooler_connections=20, database_url="postgresql://pgbouncer/jaan")
