"""The local lab: finshard clusters on this machine (PostgreSQL, Citus, pgbouncer, Patroni and
etcd, pgBackRest), their drills, and demo data.

The lab builds on the client library and on finshard.ops; neither of those imports it.
"""
