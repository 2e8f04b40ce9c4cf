#!/usr/bin/env bash
# The Environment API walkthrough: provisions a tenant on a running Tollgate
# the way the original's post-install scripts did. See README.md.
set -euo pipefail
AUTH=${TOLLGATE_URL:?set TOLLGATE_URL, e.g. http://127.0.0.1:8095}
# A deployed platform serves the Environment API on a Service of its own.
ENVIRONMENT=${TOLLGATE_ENVIRONMENT_URL:-$AUTH}
OPS="${TOLLGATE_OPS_USERNAME:-ops}:${TOLLGATE_OPS_PASSWORD:?set TOLLGATE_OPS_PASSWORD}"
TENANT=${TENANT:-t100}
CLIENT_ID=${CLIENT_ID:-external_api_client}
CLIENT_SECRET=${CLIENT_SECRET:-external-api-secret}
json=(-H 'Content-Type: application/json')
# A new client or tenant reaches every replica within about a second; a
# request that lands on a replica that has not seen it yet is refused
# (nothing is created), so each later step retries for a few seconds.
retry=(--retry 5 --retry-delay 1 --retry-all-errors)

# 1. An API client for provisioning (ops credentials).
curl -sf -u "$OPS" "${json[@]}" "$AUTH/auth/v3/ops/clients" -d "{\"data\":{
  \"client_id\":\"$CLIENT_ID\",\"client_secret\":\"$CLIENT_SECRET\",
  \"authorities\":[\"ROLE_INTERNAL_CLIENT\",\"ROLE_MANAGEMENT_APPLICATION\"],
  \"authorizedGrantTypes\":[\"client_credentials\",\"password\",\"refresh_token\"],\"scope\":[\"*\"]}}" \
  | jq -c .status

# 2. Its token.
TOKEN=$(curl -sf "${retry[@]}" -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials \
  "$AUTH/auth/v3/oauth/token" | jq -r .access_token)
bearer=(-H "Authorization: Bearer $TOKEN")

# 3. An environment; the id is the third field of .path.
ENV_ID=$(curl -sf "${retry[@]}" "${bearer[@]}" "${json[@]}" "$ENVIRONMENT/environment/v3/environments" -d '{"data":{
  "username":"default","password":"password","connectionProtocol":"addp","localTimeout":60,
  "remoteTimeout":90,"tenant":"Environment","appName":"Cloud","traceMode":"CFGTMBoth","tlsEnabled":false,
  "configServers":[{"primaryAddress":"cs.example.internal","primaryPort":8888,"readOnly":false,"locations":"/USW1"}]}}' \
  | jq -r .path | cut -d/ -f3)
echo "environment $ENV_ID"

# 4. A contact center with the tenant name users type ($TENANT\user).
CCID=$(curl -sf "${retry[@]}" "${bearer[@]}" "${json[@]}" "$ENVIRONMENT/environment/v3/contact-centers" \
  -d "{\"data\":{\"domains\":[\"$TENANT\"],\"environmentId\":\"$ENV_ID\",\"auth\":\"builtin\"}}" \
  | jq -r .path | cut -d/ -f3)
echo "contact center $CCID"

# 5. CORS origins (the whole list: a POST replaces the value).
curl -sf "${retry[@]}" "${bearer[@]}" "${json[@]}" "$ENVIRONMENT/environment/v3/contact-centers/$CCID/settings" \
  -d '{"data":{"location":"/","name":"cors-origins","shared":"true","value":"https://wwe.example.com,https://gws.example.com"}}' \
  | jq -c .data

# 6. A user of the built-in directory.
curl -sf "${retry[@]}" "${bearer[@]}" "${json[@]}" "$ENVIRONMENT/environment/v3/contact-centers/$CCID/users" \
  -d '{"data":{"userName":"agent1","password":"agent1-password","firstName":"Ada","lastName":"Agent",
  "email":"ada@example.com","authorities":["ROLE_AGENT"]}}' | jq -c '.data | {id, userName, dbid}'

# 7. The user signs in.
curl -sf "${retry[@]}" -u "$CLIENT_ID:$CLIENT_SECRET" --data-urlencode "username=$TENANT\\agent1" \
  --data-urlencode 'password=agent1-password' -d grant_type=password -d 'scope=openid' \
  "$AUTH/auth/v3/oauth/token" | jq -c '{token_type, expires_in, has_id_token: (.id_token != null)}'
