#!/usr/bin/env bash
# Step 3: a partner client calling the sandbox with curl, as in a workshop.
source "$(dirname "$0")/common.sh"
# shellcheck disable=SC1091
source "$state/sandbox.env"
tls=(--cacert "$CA_CHAIN")
mtls=(--cacert "$CA_CHAIN" --cert "$CLIENT_CERT" --key "$CLIENT_KEY")

say "Client is calling the sandbox host with its app token ..."
curl -sS --fail-with-body "${tls[@]}" -H "lean-app-token: $APP_TOKEN" "$SANDBOX_URL/banks/v1" | head -c 120; echo
say "Client successfully listed the banks over server-authenticated TLS"

say "Client is creating a customer on the mTLS host with its client certificate ..."
customer=$(curl -sS --fail-with-body "${mtls[@]}" -H "lean-app-token: $APP_TOKEN" \
    -H 'content-type: application/json' -d "{\"app_user_id\": \"workshop-$$\"}" "$MTLS_URL/customers/v1")
echo "$customer"
say "Client successfully created the customer using mutual TLS"

say "Client is creating a transaction at the API using mutual TLS ..."
curl -sS --fail-with-body "${mtls[@]}" -H "lean-app-token: $APP_TOKEN" -X POST "$MTLS_URL/api/transactions"; echo
say "Client successfully created the API transaction using mutual TLS"

say "Client is calling the mTLS host WITHOUT a client certificate (this must fail) ..."
if curl -sS "${tls[@]}" "$MTLS_URL/health" 2>&1; then
    echo "unexpected: the mTLS host accepted a call without a certificate" >&2; exit 1
fi
say "The handshake was refused. The sandbox log explains why:"
sleep 0.2
grep 'handshake refused' "$state.log" | tail -1
