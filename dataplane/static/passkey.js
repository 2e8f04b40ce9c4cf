// Runs the second-factor page's WebAuthn ceremony (docs/browser-sign-in.md):
// the form #passkey-form carries the server's options (JSON, binary fields
// in base64url) and whether to create a passkey or use one; the browser's
// credential goes back in the form's `passkey` field. Without WebAuthn the
// form stays hidden and the code field is the way.
(function () {
  "use strict";
  var form = document.getElementById("passkey-form");
  if (!form || !window.PublicKeyCredential || !navigator.credentials) return;
  var options;
  try {
    options = JSON.parse(form.getAttribute("data-options")).publicKey;
  } catch (e) {
    return;
  }
  var create = form.getAttribute("data-ceremony") === "create";
  var button = document.getElementById("passkey");
  var error = document.getElementById("passkey-error");
  form.hidden = false;

  function bytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(b64 + "===".slice((b64.length + 3) % 4));
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function text(buffer) {
    var raw = "";
    new Uint8Array(buffer).forEach(function (b) {
      raw += String.fromCharCode(b);
    });
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // The server leaves absent members as null, which the browser refuses.
  function clean(value) {
    if (Array.isArray(value)) return value.map(clean);
    if (value && typeof value === "object") {
      var out = {};
      Object.keys(value).forEach(function (k) {
        if (value[k] !== null) out[k] = clean(value[k]);
      });
      return out;
    }
    return value;
  }

  function withIds(list) {
    return (list || []).map(function (c) {
      c.id = bytes(c.id);
      return c;
    });
  }

  function register() {
    var pk = clean(options);
    pk.challenge = bytes(pk.challenge);
    pk.user.id = bytes(pk.user.id);
    pk.excludeCredentials = withIds(pk.excludeCredentials);
    return navigator.credentials.create({ publicKey: pk }).then(function (c) {
      return {
        id: c.id,
        rawId: text(c.rawId),
        type: c.type,
        extensions: {},
        response: {
          attestationObject: text(c.response.attestationObject),
          clientDataJSON: text(c.response.clientDataJSON),
        },
      };
    });
  }

  function assert() {
    var pk = clean(options);
    pk.challenge = bytes(pk.challenge);
    pk.allowCredentials = withIds(pk.allowCredentials);
    return navigator.credentials.get({ publicKey: pk }).then(function (c) {
      var r = c.response;
      return {
        id: c.id,
        rawId: text(c.rawId),
        type: c.type,
        extensions: {},
        response: {
          authenticatorData: text(r.authenticatorData),
          clientDataJSON: text(r.clientDataJSON),
          signature: text(r.signature),
          userHandle: r.userHandle ? text(r.userHandle) : null,
        },
      };
    });
  }

  button.addEventListener("click", function () {
    error.hidden = true;
    button.disabled = true;
    (create ? register() : assert()).then(
      function (credential) {
        document.getElementById("passkey-response").value = JSON.stringify(credential);
        form.submit();
      },
      function () {
        // Cancelled, timed out, or no passkey here: the options still hold.
        button.disabled = false;
        error.hidden = false;
      },
    );
  });
})();
