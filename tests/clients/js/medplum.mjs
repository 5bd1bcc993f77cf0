// @medplum/core's MedplumClient against the server (tests/clients/test_js_clients.py): it
// logs in with a SMART Backend Services client assertion (startJwtAssertionLogin, which
// sends no scope) at our token endpoint, then runs the workflow with the token it got.
import { MedplumClient, OperationOutcomeError, parseJWTPayload } from "@medplum/core";
import { fixtures, workflow } from "./workflow.mjs";

const medplum = new MedplumClient({
  baseUrl: process.env.ESP_SERVER,
  fhirUrlPath: "fhir",
  tokenUrl: "auth/token",
});
await medplum.startJwtAssertionLogin(process.env.ESP_CLIENT_ASSERTION);
const login = { scope: parseJWTPayload(medplum.getAccessToken()).scope };

const api = {
  create: (resource) => medplum.createResource(resource),
  read: (resourceType, id) => medplum.readResource(resourceType, id),
  update: (resource, etag) => medplum.updateResource(resource, { headers: { "If-Match": etag } }),
  async pages(resourceType, query) {
    const pages = [];
    for await (const page of medplum.searchResourcePages(resourceType, query)) {
      pages.push(page.map((resource) => resource.id));
    }
    return pages;
  },
  transaction: (bundle) => medplum.executeBatch(bundle),
  remove: (resourceType, id) => medplum.deleteResource(resourceType, id),
  async status(call) {
    try {
      await call();
      return 200;
    } catch (error) {
      if (!(error instanceof OperationOutcomeError)) return String(error);
      return error.outcome.issue?.[0]?.code;
    }
  },
};

console.log(JSON.stringify({ login, ...(await workflow(api, fixtures())) }));
