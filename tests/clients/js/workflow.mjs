// The integrator's workflow, shared by both libraries' scripts: create, read, If-Match
// update (and a stale one), search paging, a transaction and delete. `api` adapts one
// library; every call below goes through the library, never through fetch directly.
export async function workflow(api, fixtures) {
  const seen = {};
  const patient = await api.create(fixtures.patient);
  seen.createdVersion = patient.meta.versionId;
  const read = await api.read("Patient", patient.id);
  seen.readId = read.id === patient.id;
  const updated = await api.update({ ...read, gender: "other" }, `W/"${read.meta.versionId}"`);
  seen.updatedVersion = updated.meta.versionId;
  seen.staleUpdate = await api.status(() =>
    api.update({ ...read, gender: "female" }, `W/"${read.meta.versionId}"`),
  );

  const subject = { reference: `Patient/${patient.id}` };
  const plans = [];
  for (let i = 0; i < 3; i++) plans.push((await api.create({ ...fixtures.careplan, subject })).id);
  const pages = await api.pages("CarePlan", { subject: `Patient/${patient.id}`, _count: "2" });
  seen.pageSizes = pages.map((page) => page.length);
  seen.pagedIds = pages.flat().sort();
  seen.createdIds = [...plans].sort();

  const transaction = await api.transaction({
    resourceType: "Bundle",
    type: "transaction",
    entry: [
      { fullUrl: "urn:uuid:0d6c8e46-3b39-4c43-9f35-1b0c2d1e7a01", resource: fixtures.transactionPatient,
        request: { method: "POST", url: "Patient" } },
      { resource: { ...fixtures.careplan,
                    subject: { reference: "urn:uuid:0d6c8e46-3b39-4c43-9f35-1b0c2d1e7a01" } },
        request: { method: "POST", url: "CarePlan" } },
    ],
  });
  seen.transactionStatuses = transaction.entry.map((entry) => entry.response.status);
  const txPlan = transaction.entry[1].response.location.split("/_history")[0].split("/").pop();
  seen.transactionSubjectResolved = (await api.read("CarePlan", txPlan)).subject.reference
    .startsWith("Patient/");

  await api.remove("CarePlan", plans[0]);
  seen.readAfterDelete = await api.status(() => api.read("CarePlan", plans[0]));
  return seen;
}

export function fixtures() {
  return JSON.parse(process.env.ESP_FIXTURES);
}
