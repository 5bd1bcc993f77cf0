// fhir-kit-client against the server (tests/clients/test_js_clients.py).
import { Client } from "fhir-kit-client";
import { fixtures, workflow } from "./workflow.mjs";

const client = new Client({ baseUrl: process.env.ESP_FHIR_BASE, bearerToken: process.env.ESP_TOKEN });

const api = {
  create: (body) => client.create({ resourceType: body.resourceType, body }),
  read: (resourceType, id) => client.read({ resourceType, id }),
  update: (body, etag) =>
    client.update({ resourceType: body.resourceType, id: body.id, body,
                    options: { headers: { "If-Match": etag } } }),
  async pages(resourceType, searchParams) {
    const pages = [];
    let bundle = await client.search({ resourceType, searchParams });
    while (bundle) {
      pages.push((bundle.entry ?? []).map((entry) => entry.resource.id));
      bundle = await client.nextPage({ bundle });  // false when there is no next link
    }
    return pages;
  },
  transaction: (body) => client.transaction({ body }),
  remove: (resourceType, id) => client.delete({ resourceType, id }),
  async status(call) {
    try { await call(); return 200; } catch (error) { return error.response?.status ?? String(error); }
  },
};

console.log(JSON.stringify(await workflow(api, fixtures())));
