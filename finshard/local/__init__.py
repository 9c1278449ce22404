"""The local lab: finshard clusters on this machine (PostgreSQL, Citus, pgbouncer, Patroni and
etcd, pgBackRest), their backups and drills, and demo data.

From the bottom up: postgres (the one place that runs PostgreSQL's programs as the postgres OS
user), tls, state (what cluster.json records), settings, pgbackrest, pgbouncer and ha (each
serves a cluster's state), cluster (creates, starts and stops one), then backup, failover,
ha_drill, seed and demo. The lab builds on the client library and on finshard.ops; neither of
those imports it.
"""
