#!/bin/sh
# One-shot: a private CA and a server certificate per service, in the shared /certs volume.
# PostgreSQL (uid 999 in the citus image) and pgbouncer (uid 70) each get a key only they read.
# Kept when present: a restart must not change the certificates clients trust.
set -eu
cd /certs
[ -f ca.crt ] && { echo "certificates exist"; exit 0; }
openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 3650 \
  -subj "/O=finshard/CN=finshard compose CA" -keyout ca.key -out ca.crt
for name in coordinator worker1 worker2 pgbouncer; do
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj "/O=finshard/CN=$name" \
    -keyout "$name.key" -out "$name.csr"
  printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' "$name" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 -extfile "$name.ext" -out "$name.crt"
  rm "$name.csr" "$name.ext"
done
chown 999:999 coordinator.key worker1.key worker2.key
chown 70:70 pgbouncer.key
chmod 600 ./*.key
chmod 644 ca.crt ./*.crt
rm ca.key  # nothing else is ever signed: no CA key to steal
