#!/usr/bin/env bash
# Step 1: create the throwaway CA and the files a provider portal hands out.
source "$(dirname "$0")/common.sh"
say "Creating the sandbox CA, server and client certificates in $state ..."
"$MTLS_SANDBOX" certs
say "The client will trust lean_public_cert_chain.pem and present my_app_cert.crt + my_app_private_key.pem."
