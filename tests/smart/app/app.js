// After the redirect: ready() exchanges the code (PKCE) and reads with the token.
FHIR.oauth2.ready().then(async function (client) {
  const patient = await client.patient.read();
  const plans = await client.request("CarePlan?subject=Patient/" + client.patient.id, {
    flat: true,
  });
  const user = await client.user.read();
  const before = client.state.tokenResponse.access_token;
  const state = await client.refresh(); // resolves with the client's new state
  const after = await client.request("Patient/" + client.patient.id);
  document.getElementById("result").textContent = JSON.stringify({
    patientId: client.patient.id,
    patientName: patient.name[0].given.join(" "),
    planIds: plans.map(function (p) { return p.id; }),
    fhirUser: client.user.fhirUser,
    userType: user.resourceType,
    scope: client.state.tokenResponse.scope,
    refreshed: state.tokenResponse.access_token !== before && after.id === client.patient.id,
  });
}).catch(function (error) {
  document.getElementById("result").textContent = "ERROR " + error;
});
