"""The Python fhirclient (PyPI `fhirclient`) logs in as a SMART backend service and reads data.

It finds the token endpoint in the CapabilityStatement (`oauth-uris`), signs nothing
itself (the app passes a client assertion as `jwt_token`), and adds `launch/patient`
to the scope it asks for, as it does by default. The dev issuer drops that scope
(RFC 6749 §3.3) and grants the rest; the answer's `scope` says what was granted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fhirclient import client as smart_client
from fhirclient.models.careplan import CarePlan
from fhirclient.models.patient import Patient

from tests.support.resources import careplan, patient, unique_cpr
from tests.support.servers import RunningServer, running_server
from tests.support.tokens import HOSPITAL_SOR, BackendClient, clients_document

pytestmark = pytest.mark.slow

HOSPITAL_APP = BackendClient(
    "hospital-epj", sor=HOSPITAL_SOR, scope="system/*.rs", kommunekode=None
)


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    clients = tmp_path_factory.mktemp("clients") / "clients.json"
    clients.write_text(json.dumps(clients_document(HOSPITAL_APP)))
    env = {"ESP_ENV": "development", "ESP_CLIENTS_FILE": str(Path(clients))}
    with running_server(database_url, workers=1, env=env) as running:
        yield running


def test_backend_services_login_with_the_default_launch_scope_and_read(
    server: RunningServer,
) -> None:
    headers = server.system_headers(sor=HOSPITAL_SOR)
    person = httpx.post(f"{server.base}/Patient", json=patient(unique_cpr()), headers=headers)
    pid = person.json()["id"]
    plan = httpx.post(
        f"{server.base}/CarePlan", json=careplan(patient_ref=f"Patient/{pid}"), headers=headers
    )
    assert plan.status_code == 201, plan.text

    token_url = server.base.removesuffix("/fhir") + "/auth/token"
    settings = {
        "app_id": HOSPITAL_APP.client_id,
        "api_base": server.base,
        "scope": "system/*.rs",
        "jwt_token": HOSPITAL_APP.assertion(token_url),
    }
    smart = smart_client.FHIRClient(settings=settings)
    assert smart.desired_scope == "launch/patient system/*.rs"  # what the library sends
    smart.prepare()
    smart.authorize()
    assert smart.ready
    assert smart.launch_context["scope"] == "system/*.rs"  # launch/patient was dropped

    read = CarePlan.read(plan.json()["id"], smart.server)
    assert read.subject.reference == f"Patient/{pid}"
    search = CarePlan.where(struct={"subject": f"Patient/{pid}"})
    found = list(search.perform_resources_iter(smart.server))
    assert [p.id for p in found] == [read.id]
    assert Patient.read(pid, smart.server).id == pid
