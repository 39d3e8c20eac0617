"""The Prometheus endpoint, scraped from a running daemon (its database gauges on known rows:
tests/db/test_metrics.py)."""

from __future__ import annotations

import signal
import time
import urllib.request
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.factories import consumer_mail
from tests.support.net import LOCALHOST, free_port
from tests.support.site import Site
from tests.support.systemd import is_ready


def scrape(port: int) -> dict[str, float]:
    """{'name{label="value"}': value} of every sample on the endpoint."""
    with urllib.request.urlopen(f"http://{LOCALHOST}:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return samples


def scrape_until(
    port: int, condition: Callable[[dict[str, float]], bool], timeout: float = 30
) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(port)
        if condition(samples):
            return samples
        if time.monotonic() > deadline:
            pytest.fail(f"metrics never matched; last scrape: {samples}")
        time.sleep(0.2)


def test_metrics_of_a_running_daemon(site: Site) -> None:
    port = free_port()
    config = site.write_config(metrics={"enabled": True, "port": port})
    site.smtp_sink.fail_next(1)  # the first notice fails once (451), then goes out on its retry
    site.append(consumer_mail("aigul@mail.ru", "Счёт", message_id="<m1@mail.ru>"))
    ooo = {"Auto-Submitted": "auto-replied"}
    site.append(consumer_mail("boss@corp.kz", "Out of office", message_id="<m2@x>", headers=ooo))
    daemon = site.start_daemon(config)
    site.notify.wait_for(is_ready, timeout=60)
    site.smtp_sink.wait_for(1, timeout=30)

    samples = scrape_until(port, lambda s: s.get("mailrobot_smtp_sent_total") == 1)
    assert samples['mailrobot_messages_total{outcome="case"}'] == 1
    assert samples['mailrobot_messages_total{outcome="ignored"}'] == 1
    assert samples['mailrobot_messages_total{outcome="quarantined"}'] == 0
    assert samples["mailrobot_smtp_failures_total"] == 1
    assert samples["mailrobot_imap_reconnects_total"] == 0
    assert samples["mailrobot_cases_open"] == 1
    assert samples["mailrobot_cases_overdue"] == 0
    assert samples["mailrobot_outbox_backlog"] == 0
    assert samples["mailrobot_outbox_oldest_age_seconds"] == 0
    assert samples["mailrobot_database_up"] == 1
    # The mailbox is read to the end after every IDLE round; the age is since then, well under a minute.
    assert 0 <= samples["mailrobot_mailbox_sync_age_seconds"] < 60

    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0
