"""Reading /metrics back as numbers, with Prometheus' own text parser."""
from prometheus_client.parser import text_string_to_metric_families


def samples_of(exposition: str) -> dict[tuple, float]:
    """Every sample of a Prometheus text exposition, by (name, sorted labels)."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(exposition) for sample in family.samples}


def scrape(client, **headers) -> dict[tuple, float]:
    """Every sample on the app's /metrics (the test client is the machine itself)."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return samples_of(response.get_data(as_text=True))


def value(samples: dict, name: str, **labels) -> float:
    """One sample's value; 0 for a series not yet written (a counter that never moved)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
