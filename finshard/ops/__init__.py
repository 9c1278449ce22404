"""Operations on a finshard database, wherever it runs: given a DSN, install the schema, run
maintenance and the notification dispatcher, verify the audit log, rotate keys, create logins,
write cluster-wide restore points.

Builds on the client library (finshard.errors, finshard.db) and never on the local lab
(finshard.local), which uses these to run its own clusters.
"""
