// Standalone launch (SMART App Launch 2.2): the FHIR server is this origin's /fhir.
FHIR.oauth2.authorize({
  iss: window.location.origin + "/fhir",
  clientId: "js-test-app",
  scope: "launch/patient openid fhirUser offline_access patient/*.rs",
  redirectUri: "index.html",
  pkceMode: "required",
}).catch(function (error) {
  document.getElementById("status").textContent = "authorize failed: " + error;
});
