// Submits the SAML HTTP-POST binding's form to the identity provider.
document.getElementById("auto-post").submit();
